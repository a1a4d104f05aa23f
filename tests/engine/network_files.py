"""Tiny LoRA and textual-inversion files written by the tests, in the layouts users' files have.

kohya/A1111 LoRAs name modules with underscores (`lora_unet_down_blocks_1_..._to_q.lora_down.weight`
plus an `.alpha`), with `lora_te_` (SDXL: `lora_te1_`/`lora_te2_`) for text-encoder parts; peft
files (what diffusers saves) use `unet.<module>.lora_A.weight`. Every attention projection and MLP
layer is included, as kohya's trainer does. Weights are seeded and large enough to change an image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

UNET_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
TE_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")


def _pairs(module: torch.nn.Module, targets: tuple[str, ...]):
    """(name, layer) of the Linear layers a LoRA trainer targets; names as in transformers 5, where
    CLIPTextModel has no `text_model.` level (CLIPTextModelWithProjection still has)."""
    for name, layer in module.named_modules():
        if name.endswith(targets) and isinstance(layer, torch.nn.Linear):
            yield name, layer


def _base(layer: torch.nn.Module) -> torch.nn.Linear:
    return getattr(layer, "base_layer", layer)


def kohya_lora(pipe, seed: int = 0, rank: int = 2, alpha: float = 1.0, text_encoder: bool = True) -> dict:
    """A kohya-layout LoRA state dict for the pipeline's UNet (and text encoders)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def add(prefix: str, layer: torch.nn.Linear) -> None:
        layer = _base(layer)
        state[f"{prefix}.lora_down.weight"] = torch.randn(rank, layer.in_features, generator=generator) * 0.3
        state[f"{prefix}.lora_up.weight"] = torch.randn(layer.out_features, rank, generator=generator) * 0.3
        state[f"{prefix}.alpha"] = torch.tensor(alpha)

    for name, layer in _pairs(pipe.unet, UNET_TARGETS):
        add("lora_unet_" + name.replace(".", "_"), layer)
    if text_encoder:
        encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if getattr(pipe, "text_encoder_2", None) else [])
        prefixes = ["lora_te_"] if len(encoders) == 1 else ["lora_te1_", "lora_te2_"]
        for prefix, encoder in zip(prefixes, encoders, strict=True):
            for name, layer in _pairs(encoder, TE_TARGETS):
                add(prefix + "text_model_" + name.removeprefix("text_model.").replace(".", "_"), layer)
    return state


def peft_lora(pipe, seed: int = 0, rank: int = 2) -> dict:
    """A diffusers/peft-layout LoRA (`unet.…lora_A.weight`, `text_encoder.text_model.…`), alpha = rank."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def add(prefix: str, layer: torch.nn.Linear) -> None:
        layer = _base(layer)
        state[f"{prefix}.lora_A.weight"] = torch.randn(rank, layer.in_features, generator=generator) * 0.3
        state[f"{prefix}.lora_B.weight"] = torch.randn(layer.out_features, rank, generator=generator) * 0.3

    for name, layer in _pairs(pipe.unet, UNET_TARGETS):
        add(f"unet.{name}", layer)
    for name, layer in _pairs(pipe.text_encoder, TE_TARGETS):
        add(f"text_encoder.text_model.{name.removeprefix('text_model.')}", layer)
    return state


def write_lora(folder: Path, name: str, state: dict, metadata: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=metadata)
    return path


def embedding_vectors(width: int, vectors: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(vectors, width, generator=torch.Generator().manual_seed(seed))


def write_embedding(folder: Path, name: str, layout: str, vectors: torch.Tensor | tuple) -> Path:
    """An embedding in one of A1111's layouts: "emb_params", "string_to_param" (.pt), "sdxl", "diffusers"."""
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "emb_params":
        path = folder / f"{name}.safetensors"
        save_file({"emb_params": vectors.contiguous()}, str(path))
    elif layout == "sdxl":
        path = folder / f"{name}.safetensors"
        clip_l, clip_g = vectors
        save_file({"clip_l": clip_l.contiguous(), "clip_g": clip_g.contiguous()}, str(path))
    elif layout == "string_to_param":
        path = folder / f"{name}.pt"
        data = {"string_to_token": {"*": 265}, "string_to_param": {"*": vectors}, "name": name, "step": 100}
        torch.save(data, path)
    elif layout == "diffusers":
        path = folder / f"{name}.bin"
        torch.save({f"<{name}>": vectors}, path)
    else:
        raise ValueError(layout)
    return path


def use_folders(tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """LoRA and embedding folders of the test's own (and an empty checkpoints/ beside them)."""
    from sdstudio.engine import discovery

    (tmp_path / "checkpoints").mkdir(exist_ok=True)
    monkeypatch.setattr(discovery, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.delenv("SDSTUDIO_MODEL_DIRS", raising=False)
    monkeypatch.delenv("SDSTUDIO_VAE_DIRS", raising=False)
    loras, embeddings = tmp_path / "my-loras", tmp_path / "my-embeddings"
    loras.mkdir(exist_ok=True)
    embeddings.mkdir(exist_ok=True)
    monkeypatch.setenv("SDSTUDIO_LORA_DIRS", str(loras))
    monkeypatch.setenv("SDSTUDIO_EMBEDDING_DIRS", str(embeddings))
    return loras, embeddings


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def diffusers_image(pipe, prompt: str, sampler: str = "Euler", steps: int = 3, cfg: float = 7.0, **call):
    """What diffusers' own pipeline makes for the settings `engine_image` uses."""
    from sdstudio.engine.samplers import make_scheduler

    pipe.scheduler = make_scheduler(sampler, pipe.scheduler.config)
    generator = torch.Generator("cpu").manual_seed(5)
    result = pipe(
        prompt, num_inference_steps=steps, guidance_scale=cfg, width=64, height=64, generator=generator, **call
    )
    return pixels(result.images[0])


def engine_image(engine, prompt: str, sampler: str = "Euler", steps: int = 3, cfg: float = 7.0, **fields):
    from sdstudio.engine.requests import GenerationRequest

    request = GenerationRequest(
        prompt=prompt, sampler=sampler, steps=steps, cfg_scale=cfg, seed=5, width=64, height=64, **fields
    )
    return pixels(engine.generate(request).images[0].image)
