"""Finding models, LoRAs, embeddings and VAEs on disk, without torch (the UI's pickers use it directly).

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
from sdstudio.engine.safetensors_header import read_header
from sdstudio.errors import InputError, ModelError

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
EXTRA_DIRS_VARIABLE = "SDSTUDIO_MODEL_DIRS"  # more folders to search, separated by os.pathsep


@dataclass(frozen=True)
class ModelInfo:
    name: str  # folder name or file stem: what users type after --model
    kind: str  # "diffusers", "safetensors" or "ckpt"
    path: Path
    builtin: bool = False


def model_dirs(extra: list[Path] | None = None) -> list[Path]:
    """checkpoints/ first, then $SDSTUDIO_MODEL_DIRS, then folders the user added in settings.

    An A1111 or ComfyUI install given as a model folder stands for its checkpoint folder (its
    LoRAs, embeddings and VAEs are found by `network_dirs`)."""
    dirs = []
    for folder in _configured_model_dirs(extra):
        layout = install_layout(folder)
        dirs.append(layout["checkpoint"] if layout is not None else folder)
    return _unique(dirs)


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


# --- LoRAs, textual-inversion embeddings and VAEs -------------------------------------------------

NETWORK_KINDS = ("lora", "embedding", "vae")
NETWORK_DIRS_VARIABLES = {
    "lora": "SDSTUDIO_LORA_DIRS",
    "embedding": "SDSTUDIO_EMBEDDING_DIRS",
    "vae": "SDSTUDIO_VAE_DIRS",
}
FOLDER_BESIDE_CHECKPOINTS = {"lora": "loras", "embedding": "embeddings", "vae": "vae"}
NETWORK_SUFFIXES = {
    "lora": (".safetensors", ".pt"),
    "embedding": (".safetensors", ".pt", ".bin"),
    "vae": (".safetensors", ".pt", ".ckpt"),
}
# Where other apps keep each kind, relative to their install folder.
INSTALL_LAYOUTS = {
    "a1111": {
        "checkpoint": "models/Stable-diffusion",
        "lora": "models/Lora",
        "vae": "models/VAE",
        "embedding": "embeddings",
    },
    "comfyui": {
        "checkpoint": "models/checkpoints",
        "lora": "models/loras",
        "vae": "models/vae",
        "embedding": "models/embeddings",
    },
}


def install_layout(folder: Path) -> dict[str, Path] | None:
    """The folders of each kind when `folder` is an A1111 or ComfyUI install, else None."""
    for layout in INSTALL_LAYOUTS.values():
        if (folder / layout["checkpoint"]).is_dir():
            return {kind: folder / relative for kind, relative in layout.items()}
    return None


def _configured_model_dirs(extra: list[Path] | None) -> list[Path]:
    dirs = [CHECKPOINTS_DIR]
    dirs += [Path(p) for p in os.environ.get(EXTRA_DIRS_VARIABLE, "").split(os.pathsep) if p]
    return dirs + list(extra or [])


def _env_dirs(variable: str) -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get(variable, "").split(os.pathsep) if p]


def _unique(folders: list[Path]) -> list[Path]:
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def network_dirs(kind: str, extra_model_dirs: list[Path] | None = None) -> list[Path]:
    """Folders searched for one kind: the folder beside checkpoints/, then $SDSTUDIO_<KIND>_DIRS,
    then that part of every A1111/ComfyUI install given as a model folder."""
    if kind not in NETWORK_KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {NETWORK_KINDS}")
    dirs = [CHECKPOINTS_DIR.parent / FOLDER_BESIDE_CHECKPOINTS[kind]]
    dirs += _env_dirs(NETWORK_DIRS_VARIABLES[kind])
    for folder in _configured_model_dirs(extra_model_dirs):
        layout = install_layout(folder)
        if layout is not None:
            dirs.append(layout[kind])
    return _unique(dirs)


@dataclass(frozen=True)
class NetworkInfo:
    """A LoRA, embedding or VAE file; what the browser shows and what the prompt's names resolve to."""

    name: str  # the file stem: what `<lora:NAME:w>` and embedding words use
    kind: str  # "lora", "embedding" or "vae"
    path: Path

    @property
    def metadata(self) -> dict[str, str]:
        """The .safetensors `__metadata__` (kohya's ss_* keys, modelspec.*); {} for other files."""
        return read_header(self.path).metadata if self.path.suffix.lower() == ".safetensors" else {}

    @property
    def alias(self) -> str:
        """The name the trainer gave it (`ss_output_name`), which A1111 also accepts in tags."""
        return self.metadata.get("ss_output_name", "") or self.name

    @property
    def family(self) -> str | None:
        """ "sd1", "sd2" or "sdxl" from metadata or tensor shapes; None when it cannot be told."""
        if self.path.suffix.lower() != ".safetensors":
            return None
        header = read_header(self.path)
        if self.kind == "lora":
            return lora_family(header.shapes, header.metadata)
        if self.kind == "embedding":
            return embedding_family(header.shapes)
        return None

    @property
    def base_model(self) -> str:
        """As the trainer wrote it (`ss_base_model_version`, `modelspec.architecture`), else the family."""
        metadata = self.metadata
        return metadata.get("ss_base_model_version") or metadata.get("modelspec.architecture") or self.family or ""

    @property
    def trigger_words(self) -> list[str]:
        """Training tags, most frequent first (`ss_tag_frequency`), or `modelspec.trigger_phrase`."""
        return trigger_words(self.metadata)


def trigger_words(metadata: dict[str, str], limit: int = 20) -> list[str]:
    counts: dict[str, int] = {}
    try:
        frequencies = json.loads(metadata.get("ss_tag_frequency", "") or "{}")
    except ValueError:
        frequencies = {}
    if isinstance(frequencies, dict):
        for tags in frequencies.values():
            if isinstance(tags, dict):
                for tag, count in tags.items():
                    if isinstance(count, int | float):
                        counts[tag.strip()] = counts.get(tag.strip(), 0) + int(count)
    words = sorted(counts, key=lambda tag: (-counts[tag], tag))
    phrase = metadata.get("modelspec.trigger_phrase", "").strip()
    if phrase and phrase not in words:
        words.insert(0, phrase)
    return [word for word in words if word][:limit]


_SDXL_BASE_PREFIXES = ("sdxl", "stable-diffusion-xl")
_FAMILY_BY_CONTEXT_DIM = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


def lora_family(shapes: dict[str, tuple[int, ...]], metadata: dict[str, str]) -> str | None:
    """Which model family a LoRA was trained for: its metadata, else its key layout and widths."""
    base = (metadata.get("ss_base_model_version", "") or metadata.get("modelspec.architecture", "")).lower()
    if base.startswith(_SDXL_BASE_PREFIXES):
        return "sdxl"
    if base.startswith(("sd_v2", "stable-diffusion-v2")) or metadata.get("ss_v2") == "True":
        return "sd2"
    if base.startswith(("sd_v1", "stable-diffusion-v1")):
        return "sd1"
    if any(key.startswith(("lora_te1_", "lora_te2_", "text_encoder_2.", "te2.")) for key in shapes):
        return "sdxl"
    for key, shape in shapes.items():
        down = "lora_down" in key or "lora_A" in key or "lora.down" in key
        if down and "attn2" in key and "to_k" in key and len(shape) == 2:
            return _FAMILY_BY_CONTEXT_DIM.get(shape[1])
    for key, shape in shapes.items():
        down = "lora_down" in key or "lora_A" in key or "lora.down" in key
        if key.startswith(("lora_te_", "text_encoder.")) and down and "q_proj" in key and len(shape) == 2:
            return {768: "sd1", 1024: "sd2"}.get(shape[1])
    return None


def embedding_family(shapes: dict[str, tuple[int, ...]]) -> str | None:
    """SDXL embeddings carry `clip_l` and `clip_g`; others one (vectors, width) tensor."""
    if "clip_l" in shapes and "clip_g" in shapes:
        return "sdxl"
    if len(shapes) == 1:
        shape = next(iter(shapes.values()))
        return {768: "sd1", 1024: "sd2"}.get(shape[-1]) if shape else None
    return None


def _walk(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files below `folder` (subfolders too, as A1111 lists them), hidden ones skipped, sorted."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if not f.startswith(".") and f.lower().endswith(suffixes)]
    return found


def discover_networks(kind: str, extra_model_dirs: list[Path] | None = None) -> list[NetworkInfo]:
    """Every file of one kind in its folders, by name; the first folder wins for a repeated name."""
    found: dict[str, NetworkInfo] = {}
    for folder in network_dirs(kind, extra_model_dirs):
        if folder.is_dir():
            for path in _walk(folder, NETWORK_SUFFIXES[kind]):
                name = path.name[: -len(path.suffix)] if path.suffix else path.name
                found.setdefault(name, NetworkInfo(name, kind, path))
    return sorted(found.values(), key=lambda info: info.name.lower())


def discover_all_networks(extra_model_dirs: list[Path] | None = None) -> list[NetworkInfo]:
    """LoRAs, embeddings and VAEs together (`sdstudio models`' kind column)."""
    return [info for kind in NETWORK_KINDS for info in discover_networks(kind, extra_model_dirs)]


def resolve_network(kind: str, name_or_path: str, extra_model_dirs: list[Path] | None = None) -> NetworkInfo:
    """A LoRA/embedding/VAE by name (exact, then any case, then its trainer's alias) or by path."""
    text = str(name_or_path).strip()
    path = Path(text).expanduser()
    if text and path.suffix.lower() in NETWORK_SUFFIXES.get(kind, ()) and path.is_file():
        return NetworkInfo(path.stem, kind, path)
    infos = discover_networks(kind, extra_model_dirs)
    for matches in (
        lambda info: info.name == text,
        lambda info: info.name.lower() == text.lower(),
        lambda info: kind == "lora" and info.alias.lower() == text.lower(),
    ):
        for info in infos:
            if matches(info):
                return info
    label = {"lora": "LoRA", "embedding": "embedding", "vae": "VAE"}.get(kind, kind)
    folders = ", ".join(str(d) for d in network_dirs(kind, extra_model_dirs))
    raise InputError(f"{label} '{text}' not found in {folders} (see `sdstudio models`)")
