"""LoRA (Hu et al. 2021) from `<lora:NAME:W>` tags, kept loaded as peft adapters across jobs.

Files in kohya/A1111 layout (`lora_unet_*`, `lora_te_*`, SDXL `lora_te1_`/`lora_te2_`) and
diffusers/peft layout are read by diffusers' `load_lora_weights`, which converts the former. Each
file becomes one named peft adapter on the UNet and text encoder(s) of the model, and stays there:
the next job only calls `set_adapters` with its own names and weights, so switching LoRAs never
reloads the checkpoint, and a job without LoRAs simply disables them (the base layers' output is
then exactly the model's own).

Weights follow A1111: `<lora:x:w>` scales both the text-encoder and the UNet part by w (peft's
scale times the file's alpha/rank), `<lora:x:te:unet>` scales them separately; `w = 0` adds
exactly zero. A file made for another family is refused with one line before it touches the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.discovery import NetworkInfo, lora_family, resolve_network
from sdstudio.engine.prompt_syntax import LoraTag
from sdstudio.engine.safetensors_header import read_header
from sdstudio.errors import InputError

FAMILY_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}


@dataclass(frozen=True)
class ActiveLora:
    """A tag resolved to its file, as the metadata writer needs it (`Lora hashes`)."""

    tag: LoraTag
    info: NetworkInfo


def loader_pipeline(model: LoadedModel):
    """A diffusers pipeline object over the model's own modules (nothing copied), for its loaders."""
    from sdstudio.engine.samplers import make_scheduler

    scheduler = make_scheduler("Euler", model.scheduler_config)
    if model.is_sdxl:
        return StableDiffusionXLPipeline(
            vae=model.vae,
            text_encoder=model.text_encoders[0],
            text_encoder_2=model.text_encoders[1],
            tokenizer=model.tokenizers[0],
            tokenizer_2=model.tokenizers[1],
            unet=model.unet,
            scheduler=scheduler,
        )
    return StableDiffusionPipeline(
        vae=model.vae,
        text_encoder=model.text_encoders[0],
        tokenizer=model.tokenizers[0],
        unet=model.unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def check_family(info: NetworkInfo, model: LoadedModel) -> None:
    """InputError when the file says (metadata or key layout) it is for another model family."""
    header = read_header(info.path) if info.path.suffix.lower() == ".safetensors" else None
    family = lora_family(header.shapes, header.metadata) if header is not None else None
    if family and model.family in FAMILY_NAMES and family != model.family:
        raise InputError(
            f"LoRA '{info.name}' is for {FAMILY_NAMES[family]}, but model '{model.name}' "
            f"is {FAMILY_NAMES[model.family]}: use a LoRA made for it"
        )


def _state_dict(path: Path) -> dict[str, torch.Tensor] | str:
    if path.suffix.lower() == ".safetensors":
        return str(path)
    return torch.load(path, map_location="cpu", weights_only=True)


class Loras:
    """The LoRA adapters loaded into one model, and which of them the current job uses."""

    def __init__(self, model: LoadedModel, resolve: Callable[[str], NetworkInfo] | None = None) -> None:
        self._model = model
        self._resolve = resolve or (lambda name: resolve_network("lora", name))
        self._pipeline = None
        self._adapters: dict[tuple[Path, float], str] = {}  # (file, mtime) -> adapter name
        self._enabled = False

    @property
    def pipeline(self):
        if self._pipeline is None:
            self._pipeline = loader_pipeline(self._model)
        return self._pipeline

    def resolve(self, tags: list[LoraTag]) -> list[ActiveLora]:
        """Each tag's file; InputError for a name not found or a file for another family."""
        active = []
        for tag in tags:
            info = self._resolve(tag.name)
            check_family(info, self._model)
            active.append(ActiveLora(tag, info))
        return active

    def activate(self, active: list[ActiveLora]) -> None:
        """Make exactly these LoRAs (with their weights) act on the model; load the new ones."""
        if not active:
            if self._enabled:
                self.pipeline.disable_lora()
                self._enabled = False
            return
        names, weights = [], []
        for lora in active:
            name = self._adapter(lora.info)
            parts = self.pipeline.get_list_adapters()
            weight = {part: lora.tag.unet_weight if part == "unet" else lora.tag.te_weight for part in parts}
            names.append(name)
            weights.append({part: w for part, w in weight.items() if name in parts[part]})
        if len(set(names)) < len(names):
            raise InputError("the same LoRA is named twice in the prompt; give it once with one weight")
        self.pipeline.enable_lora()
        self.pipeline.set_adapters(names, weights)
        self._enabled = True

    def _adapter(self, info: NetworkInfo) -> str:
        key = (info.path.resolve(), info.path.stat().st_mtime)
        if key not in self._adapters:
            name = f"lora{len(self._adapters)}"
            try:
                with warnings.catch_warnings():  # peft warns that a second adapter is a second adapter
                    warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                    self.pipeline.load_lora_weights(_state_dict(info.path), adapter_name=name)
            except (ValueError, RuntimeError, KeyError, OSError) as error:
                self._forget(name)
                first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                raise InputError(f"LoRA '{info.name}' does not fit model '{self._model.name}': {first}") from None
            self._adapters[key] = name
        return self._adapters[key]

    def _forget(self, name: str) -> None:
        """Remove a half-loaded adapter so that a refused file leaves the model as it was."""
        for part in ("unet", "text_encoder", "text_encoder_2"):
            module = getattr(self.pipeline, part, None)
            if module is not None and name in getattr(module, "peft_config", {}):
                module.delete_adapter(name)
