"""Reading single-file checkpoints safely, and telling which architecture they hold.

`.safetensors` headers are read (and bounded) by our own reader without loading any tensor: a
header larger than any real checkpoint's, a 50 MB metadata string or a million-key header is
refused in milliseconds, where the library took a minute and 1.9 GB. Pickled `.ckpt`/`.pt` files
are opened only with `torch.load(weights_only=True)`: a file that needs arbitrary unpickling
(which could run code) is refused. The architecture comes from diffusers' own key-based
detection, mapped onto the offline config folders in resources/configs/; a file that is only
partly a Stable Diffusion checkpoint (a few UNet keys, no VAE) is refused before diffusers runs.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

from sdstudio import RESOURCES_DIR
from sdstudio.errors import ModelError

if TYPE_CHECKING:  # torch and diffusers load lazily: the CLI refuses a bad header before importing them
    import torch

CONFIGS_DIR = RESOURCES_DIR / "configs"
UNET_PREFIX = "model.diffusion_model."
# diffusers model type -> our config folder and family
CONFIG_FOR_TYPE = {
    "v1": ("sd1", "sd1"),
    "inpainting": ("sd1-inpainting", "sd1"),
    "v2": ("sd2-v", "sd2"),
    "inpainting_v2": ("sd2-inpainting", "sd2"),
    "xl_base": ("sdxl", "sdxl"),
    "xl_inpaint": ("sdxl-inpainting", "sdxl"),
}
# ComfyUI's observation: in SD 2.x v-prediction models this norm bias has a large spread.
V_PREDICTION_PROBE = UNET_PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
V_PREDICTION_STD = 0.09
# A full SDXL checkpoint's header is ~250 KB; training metadata adds a few MB at most.
MAX_HEADER_BYTES = 32 * 2**20
MAX_TENSORS = 20_000  # SDXL with EMA weights has ~4,200
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
# family -> component -> (LDM key prefix, key count in the real model)
COMPONENT_KEYS = {
    "sd1": {"UNet": (UNET_PREFIX, 686), "VAE": ("first_stage_model.", 248),
            "text encoder": ("cond_stage_model.transformer.", 196)},
    "sd2": {"UNet": (UNET_PREFIX, 686), "VAE": ("first_stage_model.", 248),
            "text encoder": ("cond_stage_model.model.", 280)},
    "sdxl": {"UNet": (UNET_PREFIX, 1680), "VAE": ("first_stage_model.", 248),
             "first text encoder": ("conditioner.embedders.0.transformer.", 196),
             "second text encoder": ("conditioner.embedders.1.model.", 389)},
}
COMPLETE_FRACTION = 0.9


@dataclass(frozen=True)
class Shape:
    """Stands in for a tensor where only its shape is needed (architecture detection)."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class Architecture:
    config_dir: Path
    family: str  # "sd1", "sd2", "sdxl"
    model_type: str  # diffusers' name for it
    prediction_type: str  # "epsilon" or "v_prediction"

    @property
    def pipeline(self) -> str:
        return "StableDiffusionXLPipeline" if self.family == "sdxl" else "StableDiffusionPipeline"


def read_shapes(path: Path) -> dict[str, Shape]:
    """Tensor names and shapes of a checkpoint, reading as little as possible."""
    if path.suffix.lower() == ".safetensors":
        return read_safetensors_header(path)
    import torch

    state = load_pickle_safely(path)
    return {key: Shape(tuple(value.shape)) for key, value in state.items() if isinstance(value, torch.Tensor)}


def _unreadable(path: Path, reason: str) -> ModelError:
    return ModelError(f"'{path.name}' is not a readable .safetensors file ({reason}); is it complete?")


def read_safetensors_header(path: Path) -> dict[str, Shape]:
    """Tensor names and shapes from a .safetensors header, checked against the format and bounded.

    The format: 8 bytes of little-endian header length, a JSON object of `name: {dtype, shape,
    data_offsets}` plus an optional `__metadata__` of strings, then the tensor bytes."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
            if not 2 <= length <= size - 8:
                raise _unreadable(path, "no valid header" if len(prefix) == 8 else "shorter than a header")
            if length > MAX_HEADER_BYTES:
                raise ModelError(f"'{path.name}' has a {length / 2**20:.0f} MB header, larger than any real "
                                 f"checkpoint's (at most {MAX_HEADER_BYTES // 2**20} MB); refusing to read it")
            raw = handle.read(length)
    except OSError as error:
        raise ModelError(f"cannot read '{path.name}' ({error.strerror or error})") from error
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise _unreadable(path, "its header is not valid JSON") from error
    if not isinstance(header, dict):
        raise _unreadable(path, "its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _unreadable(path, "its __metadata__ is not a map of strings")
    if len(header) > MAX_TENSORS:
        raise ModelError(f"'{path.name}' lists {len(header):,} tensors, more than any Stable Diffusion checkpoint "
                         f"(at most {MAX_TENSORS:,}); refusing to read it")
    data_size = size - 8 - length
    return {name: _checked_entry(path, name, entry, data_size) for name, entry in header.items()}


def _checked_entry(path: Path, name: str, entry: object, data_size: int) -> Shape:
    """One tensor entry: a known dtype, a shape of non-negative ints, offsets inside the file."""
    if not isinstance(entry, dict):
        raise _unreadable(path, f"tensor {name[:80]!r} has no dtype, shape and offsets")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    dtype = entry.get("dtype")
    if (not isinstance(dtype, str) or dtype not in DTYPE_BYTES or not isinstance(shape, list) or len(shape) > 8
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise _unreadable(path, f"tensor {name[:80]!r} has an invalid dtype or shape")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(n) is int for n in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size):
        raise _unreadable(path, f"tensor {name[:80]!r} lies outside the file")
    if offsets[1] - offsets[0] != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise _unreadable(path, f"tensor {name[:80]!r} has a size that does not match its shape")
    return Shape(tuple(shape))


def check_model_file(name_or_path: str) -> None:
    """The CLI's early look at the model it will load: an unknown name, or a .safetensors file whose
    header is hostile or broken, is one line now, before torch is imported (the full checks,
    architecture and completeness, run again when the engine loads it)."""
    from sdstudio.engine.discovery import resolve_model

    info = resolve_model(name_or_path)
    if info.kind == "safetensors":
        read_safetensors_header(info.path)


def check_complete(path: Path, shapes: dict[str, Shape], architecture: Architecture) -> None:
    """Refuse a file that is only partly a checkpoint of `architecture` (a UNet fragment, a file
    without its VAE or text encoder), naming what is missing, before diffusers converts anything.
    The counts are those of the real models' LDM layout, with some slack for variants."""
    parts = COMPONENT_KEYS["sdxl" if architecture.family == "sdxl" else architecture.family]
    for part, (prefix, expected) in parts.items():
        found = sum(1 for key in shapes if key.startswith(prefix))
        if found < expected * COMPLETE_FRACTION:
            have = f"only {found} of its ~{expected}" if found else f"none of its ~{expected}"
            raise ModelError(
                f"'{path.name}' is not a complete {architecture.family.upper()} checkpoint: it has {have} "
                f"{part} weights ({prefix}*); sdstudio loads full checkpoints (UNet, VAE and text encoder)"
            )


def load_pickle_safely(path: Path) -> dict[str, torch.Tensor]:
    """A .ckpt/.pt state dict through torch's weights-only unpickler, never the full one."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as error:
        raise ModelError(
            f"refusing to load '{path.name}': it needs arbitrary code to unpickle, which could be unsafe; "
            "use a .safetensors version of this model"
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise ModelError(f"'{path.name}' is not a readable checkpoint ({str(error).splitlines()[0]})") from error
    while isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise ModelError(f"'{path.name}' holds a {type(loaded).__name__}, not a model state dict")
    return loaded


def detect_architecture(path: Path, shapes: dict[str, Shape] | None = None) -> Architecture:
    """Which offline config a single-file checkpoint needs, from its keys (or a clear refusal)."""
    shapes = read_shapes(path) if shapes is None else shapes
    if not any(key.startswith(UNET_PREFIX) for key in shapes):
        hint = "a LoRA, VAE or embedding" if shapes else "empty"
        raise ModelError(
            f"'{path.name}' has no Stable Diffusion UNet weights (is it {hint}?); "
            "sdstudio loads full SD 1.x, 2.x and SDXL checkpoints"
        )
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    model_type = infer_diffusers_model_type(shapes)
    if model_type not in CONFIG_FOR_TYPE:
        raise ModelError(
            f"'{path.name}' is a '{model_type}' checkpoint, which sdstudio does not support; "
            "it loads SD 1.x, SD 2.x and SDXL (and their inpainting variants)"
        )
    config_name, family = CONFIG_FOR_TYPE[model_type]
    prediction = "epsilon"
    if model_type == "v2":
        prediction = sd2_prediction_type(path)
        config_name = "sd2-v" if prediction == "v_prediction" else "sd2"
    return Architecture(CONFIGS_DIR / config_name, family, model_type, prediction)


def sd2_prediction_type(path: Path) -> str:
    """SD 2.x comes as v-prediction (768-v) or epsilon (512-base); the keys are the same.

    Order of evidence: an A1111-style sidecar `<name>.yaml` (`parameterization: "v"`), then a
    `v_pred` marker key, then the spread of one norm bias (ComfyUI's heuristic: std > 0.09), else v."""
    sidecar = path.with_suffix(".yaml")
    if sidecar.is_file():
        text = sidecar.read_text(errors="replace")
        return "v_prediction" if re.search(r"parameterization:\s*['\"]?v['\"]?\s*$", text, re.M) else "epsilon"
    if path.suffix.lower() == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as handle:
                keys = set(handle.keys())
                probe = handle.get_tensor(V_PREDICTION_PROBE) if V_PREDICTION_PROBE in keys else None
        except (SafetensorError, OSError, ValueError) as error:
            raise _unreadable(path, str(error).splitlines()[0][:200] if str(error) else "damaged") from error
    else:
        state = load_pickle_safely(path)
        keys, probe = set(state), state.get(V_PREDICTION_PROBE)
    if "v_pred" in keys:
        return "v_prediction"
    if probe is not None:
        return "v_prediction" if probe.float().std(unbiased=False) > V_PREDICTION_STD else "epsilon"
    return "v_prediction"
