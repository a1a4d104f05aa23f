"""Finding models on disk, without importing torch (the UI's model picker uses it directly).

A model is a diffusers folder (has `model_index.json`, or `unet/` + `vae/`), a single-file
`.safetensors` checkpoint, or a `.ckpt`/`.pt` pickle (loaded only with `weights_only=True`).
The built-in model is the folder whose `sdstudio.json` says `"builtin": true`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sdstudio import CHECKPOINTS_DIR
from sdstudio.errors import ModelError

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
EXTRA_DIRS_VARIABLE = "SDSTUDIO_MODEL_DIRS"  # more folders to search, separated by os.pathsep


@dataclass(frozen=True)
class ModelInfo:
    name: str  # folder name or file stem: what users type after --model
    kind: str  # "diffusers", "safetensors" or "ckpt"
    path: Path
    builtin: bool = False


def model_dirs(extra: list[Path] | None = None) -> list[Path]:
    """checkpoints/ first, then $SDSTUDIO_MODEL_DIRS, then folders the user added in settings."""
    dirs = [CHECKPOINTS_DIR]
    dirs += [Path(p) for p in os.environ.get(EXTRA_DIRS_VARIABLE, "").split(os.pathsep) if p]
    dirs += list(extra or [])
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def is_diffusers_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "model_index.json").is_file() or (path / "unet").is_dir())


def is_builtin(path: Path) -> bool:
    marker = path / "sdstudio.json"
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()).get("builtin"))
    except (OSError, ValueError, AttributeError):
        return False


def describe(path: Path) -> ModelInfo | None:
    """What kind of model `path` is, or None when it is not one."""
    if is_diffusers_folder(path):
        return ModelInfo(path.name, "diffusers", path, is_builtin(path))
    suffix = path.suffix.lower()
    if path.is_file() and suffix in SINGLE_FILE_SUFFIXES:
        return ModelInfo(path.stem, "safetensors" if suffix == ".safetensors" else "ckpt", path)
    return None


def discover_models(extra_dirs: list[Path] | None = None) -> list[ModelInfo]:
    """Every model in the model folders: the built-in one first, then by name."""
    found: dict[Path, ModelInfo] = {}
    for folder in model_dirs(extra_dirs):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            info = describe(entry)
            if info is not None:
                found.setdefault(entry.resolve(), info)
    return sorted(found.values(), key=lambda info: (not info.builtin, info.name.lower()))


def default_model(extra_dirs: list[Path] | None = None) -> ModelInfo | None:
    """The built-in model, or the first model found."""
    models = discover_models(extra_dirs)
    return models[0] if models else None


def resolve_model(name_or_path: str | Path = "", extra_dirs: list[Path] | None = None) -> ModelInfo:
    """A model from a name (as listed by `sdstudio models`), a path, or "" for the default."""
    text = str(name_or_path).strip()
    if not text:
        info = default_model(extra_dirs)
        if info is None:
            raise ModelError("no model found: put a .safetensors file or a diffusers folder in checkpoints/")
        return info
    path = Path(text).expanduser()
    if path.exists():
        info = describe(path)
        if info is None:
            raise ModelError(
                f"'{text}' is not a model: expected a .safetensors/.ckpt file "
                "or a diffusers folder with model_index.json"
            )
        return info
    models = discover_models(extra_dirs)
    for info in models:
        if info.name == text:
            return info
    for info in models:
        if info.name.lower() == text.lower():
            return info
    if path.suffix or os.sep in text:
        raise ModelError(f"model file '{text}' does not exist")
    names = ", ".join(info.name for info in models) or "none"
    raise ModelError(f"unknown model '{text}'; models found: {names} (see `sdstudio models`)")
