"""Reading single-file checkpoints safely, and telling which architecture they hold.

`.safetensors` headers are read without loading any tensor. Pickled `.ckpt`/`.pt` files are
opened only with `torch.load(weights_only=True)`: a file that needs arbitrary unpickling (which
could run code) is refused. The architecture comes from diffusers' own key-based detection,
mapped onto the offline config folders in resources/configs/.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.loaders.single_file_utils import infer_diffusers_model_type
from safetensors import SafetensorError, safe_open

from sdstudio import RESOURCES_DIR
from sdstudio.errors import ModelError

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
        try:
            with safe_open(str(path), framework="pt") as handle:
                return {key: Shape(tuple(handle.get_slice(key).get_shape())) for key in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as error:
            raise ModelError(f"'{path.name}' is not a readable .safetensors file ({error}); is it complete?") from error
    state = load_pickle_safely(path)
    return {key: Shape(tuple(value.shape)) for key, value in state.items() if isinstance(value, torch.Tensor)}


def load_pickle_safely(path: Path) -> dict[str, torch.Tensor]:
    """A .ckpt/.pt state dict through torch's weights-only unpickler, never the full one."""
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
        with safe_open(str(path), framework="pt") as handle:
            keys = set(handle.keys())
            probe = handle.get_tensor(V_PREDICTION_PROBE) if V_PREDICTION_PROBE in keys else None
    else:
        state = load_pickle_safely(path)
        keys, probe = set(state), state.get(V_PREDICTION_PROBE)
    if "v_pred" in keys:
        return "v_prediction"
    if probe is not None:
        return "v_prediction" if probe.float().std(unbiased=False) > V_PREDICTION_STD else "epsilon"
    return "v_prediction"
