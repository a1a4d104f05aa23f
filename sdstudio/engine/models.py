"""Loading models into a `LoadedModel`: diffusers folders and single-file checkpoints, offline.

Discovery (finding models on disk) lives in `sdstudio.engine.discovery`, which needs no torch.
Single-file checkpoints go through diffusers' own conversion (`from_single_file`) with a local
config folder from resources/configs/ passed as `config=`, so nothing is ever fetched.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel
from diffusers.loaders.single_file_utils import SingleFileComponentError
from safetensors import SafetensorError
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from sdstudio.engine.checkpoint_format import check_complete, detect_architecture, load_pickle_safely, read_shapes
from sdstudio.engine.components import SD_PREVIEW_FACTORS, SDXL_PREVIEW_FACTORS, LoadedModel
from sdstudio.engine.device import pick_device, pick_dtype
from sdstudio.engine.discovery import ModelInfo, default_model, describe, discover_models, resolve_model
from sdstudio.engine.requests import LoadEvent
from sdstudio.errors import ModelError

__all__ = ["ModelInfo", "default_model", "describe", "discover_models", "load_model", "resolve_model"]

ProgressListener = Callable[[LoadEvent], None]


def load_model(
    info: ModelInfo,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    on_progress: ProgressListener | None = None,
) -> LoadedModel:
    """Load a discovered model onto a device (CUDA fp16 if available, else CPU fp32)."""
    device = pick_device(device)
    dtype = pick_dtype(device, dtype)
    quiet_libraries()

    def report(stage: str, fraction: float) -> None:
        if on_progress is not None:
            on_progress(LoadEvent(info.name, stage, fraction))

    report("reading", 0.0)
    try:
        if info.kind == "diffusers":
            model = _load_folder(info, dtype, report)
        else:
            model = _load_single_file(info, dtype, report)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"cannot load model '{info.name}': {first_line[:300]}") from error
    report("moving to device", 0.9)
    model = _to_device(model, device, dtype)
    report("ready", 1.0)
    return model


def _load_folder(info: ModelInfo, dtype: torch.dtype, report: Callable[[str, float], None]) -> LoadedModel:
    """A diffusers folder, component by component (no pipeline class needed)."""
    folder = info.path
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        if not (folder / part).is_dir():
            raise ModelError(
                f"model folder '{folder.name}' has no '{part}/' subfolder; is it a complete diffusers model?"
            )
    variant = _variant(folder / "unet")
    report("loading unet", 0.1)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype, variant=variant)
    report("loading vae", 0.5)
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype, variant=_variant(folder / "vae"))
    report("loading text encoder", 0.6)
    encoder_variant = _variant(folder / "text_encoder")
    encoders: list[CLIPTextModel | CLIPTextModelWithProjection] = [
        CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=dtype, variant=encoder_variant)
    ]
    tokenizers = [CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")]
    if (folder / "text_encoder_2").is_dir():
        encoders.append(
            CLIPTextModelWithProjection.from_pretrained(
                folder, subfolder="text_encoder_2", dtype=dtype, variant=_variant(folder / "text_encoder_2")
            )
        )
        tokenizers.append(CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer_2"))
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    extra = _sdstudio_json(folder)
    family = extra.get("family") or _family(unet, len(encoders))
    return _assemble(info, family, unet, vae, encoders, tokenizers, scheduler_config, dtype, extra)


def _variant(folder: Path) -> str | None:
    """'fp16' when a component folder only has `*.fp16.safetensors` weights."""
    files = [p.name for p in folder.glob("*.safetensors")] + [p.name for p in folder.glob("*.bin")]
    plain = [name for name in files if name.count(".") == 1]
    return "fp16" if not plain and any(".fp16." in name for name in files) else None


def _sdstudio_json(folder: Path) -> dict[str, Any]:
    path = folder / "sdstudio.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        raise ModelError(f"'{path}' is not valid JSON: {error}") from error
    return data if isinstance(data, dict) else {}


def _family(unet: UNet2DConditionModel, encoder_count: int) -> str:
    if unet.config.get("addition_embed_type") == "text_time" or encoder_count == 2:
        return "sdxl"
    return {768: "sd1", 1024: "sd2"}.get(unet.config.cross_attention_dim, "custom")


def _load_single_file(info: ModelInfo, dtype: torch.dtype, report: Callable[[str, float], None]) -> LoadedModel:
    """An original-layout (LDM) checkpoint through diffusers' conversion with our offline config."""
    path = info.path
    if info.kind == "ckpt":
        load_pickle_safely(path)  # refuse unsafe pickles before diffusers ever opens the file
    shapes = read_shapes(path)  # bounded header read: a hostile or partial file is refused here, not in diffusers
    architecture = detect_architecture(path, shapes)
    check_complete(path, shapes, architecture)
    report(f"converting ({architecture.family})", 0.2)
    pipeline_class = StableDiffusionXLPipeline if architecture.family == "sdxl" else StableDiffusionPipeline
    pipe = load_single_file_pipeline(pipeline_class, path, architecture.config_dir, dtype)
    scheduler_config = dict(pipe.scheduler.config)
    scheduler_config["prediction_type"] = architecture.prediction_type
    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if architecture.family == "sdxl" else [])
    tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if architecture.family == "sdxl" else [])
    return _assemble(info, architecture.family, pipe.unet, pipe.vae, encoders, tokenizers, scheduler_config, dtype, {})


def load_single_file_pipeline(pipeline_class, path: Path, config_dir: Path, dtype: torch.dtype):
    """diffusers' single-file loading, strictly offline: the config folder is always local."""
    quiet_libraries()
    kwargs: dict[str, Any] = dict(config=str(config_dir), local_files_only=True, torch_dtype=dtype)
    if pipeline_class is StableDiffusionPipeline:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        return pipeline_class.from_single_file(str(path), **kwargs)
    except (ValueError, RuntimeError, KeyError, TypeError, AttributeError, IndexError, OSError,
            SingleFileComponentError, SafetensorError) as error:  # diffusers' conversion of a file it half-knows
        raise ModelError(
            f"'{path.name}' does not match the {config_dir.name} architecture its keys suggest "
            f"({(str(error).strip().splitlines() or [type(error).__name__])[0][:200]}); "
            "the file may be damaged or an unusual variant"
        ) from error


def _assemble(info, family, unet, vae, encoders, tokenizers, scheduler_config, dtype, extra) -> LoadedModel:
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    if "latent_rgb_factors" in extra:
        preview = (tuple(map(tuple, extra["latent_rgb_factors"])), tuple(extra.get("latent_rgb_bias", (0, 0, 0))))
    else:
        preview = SDXL_PREVIEW_FACTORS if family == "sdxl" else SD_PREVIEW_FACTORS
    default_size = int(extra.get("default_size") or _native_size(unet, vae_scale, family))
    for module in (unet, vae, *encoders):
        module.eval().requires_grad_(False)
    return LoadedModel(
        name=extra.get("name") or info.name,
        family=family,
        unet=unet,
        vae=vae,
        text_encoders=list(encoders),
        tokenizers=list(tokenizers),
        scheduler_config=scheduler_config,
        device=torch.device("cpu"),
        dtype=dtype,
        source=str(info.path),
        preview_factors=preview,
        default_size=default_size,
    )


def _native_size(unet: UNet2DConditionModel, vae_scale: int, family: str) -> int:
    sample = unet.config.sample_size
    size = (sample[0] if isinstance(sample, (list, tuple)) else int(sample)) * vae_scale
    return {"sd1": 512, "sdxl": 1024}.get(family, size)


def _to_device(model: LoadedModel, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """Move the components; an SDXL VAE stays fp32 under fp16 (it overflows: `force_upcast`).

    The weights were loaded in `dtype` already, so on CPU nothing moves."""
    if device.type != "cpu":
        for module in (model.unet, model.vae, *model.text_encoders):
            module.to(device)
    if dtype == torch.float16 and model.vae.config.get("force_upcast"):
        model.vae.to(dtype=torch.float32)
    model.device, model.dtype = device, dtype
    return model


def quiet_libraries() -> None:
    """No progress bars or info chatter from diffusers/transformers: we report progress ourselves."""
    import diffusers.utils.logging as diffusers_logging
    import transformers.utils.logging as transformers_logging

    for module in (diffusers_logging, transformers_logging):
        module.set_verbosity_error()
        module.disable_progress_bar()
