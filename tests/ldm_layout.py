"""Write a diffusers SD 1.x pipeline as a single-file checkpoint in the original (LDM) key layout.

Real users' `.safetensors` files use CompVis' key names; diffusers converts them on load. To test
that path without downloading a model we go the other way: diffusers names -> LDM names, for any
number of blocks and layers (so tiny test models work too). The mapping follows the layout of
CompVis' `openaimodel.py` (input_blocks / middle_block / output_blocks) and `model.py` (VAE).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
          ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
}


def unet_prefixes(config) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs for every block of a UNet2DConditionModel config."""
    layers = config["layers_per_block"]
    blocks = len(config["block_out_channels"])
    pairs: list[tuple[str, str]] = []
    for i in range(blocks):
        for j in range(layers):
            index = 1 + i * (layers + 1) + j
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{index}.0."))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{index}.1."))
        if i < blocks - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (layers + 1)}.0.op."))
        has_attention = "CrossAttn" in config["up_block_types"][i]
        for j in range(layers + 1):
            index = i * (layers + 1) + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{index}.0."))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{index}.1."))
        if i < blocks - 1:
            index = i * (layers + 1) + layers
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{index}.{2 if has_attention else 1}."))
    pairs += [("mid_block.resnets.0.", "middle_block.0."), ("mid_block.attentions.0.", "middle_block.1."),
              ("mid_block.resnets.1.", "middle_block.2.")]
    return pairs


def unet_to_ldm(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    pairs = unet_prefixes(config)
    converted = {}
    for key, value in state.items():
        new = key
        for old, ldm in UNET_TOP.items():
            if key.startswith(old + "."):
                new = ldm + key[len(old):]
        for old, ldm in pairs:
            if key.startswith(old):
                rest = key[len(old):]
                if ".resnets." in old:
                    for diffusers_part, ldm_part in RESNET:
                        if rest.startswith(diffusers_part + "."):
                            rest = ldm_part + rest[len(diffusers_part):]
                new = ldm + rest
                break
        converted["model.diffusion_model." + new] = value
    return converted


def vae_to_ldm(state: dict[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    blocks = len(config["block_out_channels"])
    layers = config["layers_per_block"]
    pairs: list[tuple[str, str]] = []
    for i in range(blocks):
        for j in range(layers):
            pairs.append((f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}."))
        for j in range(layers + 1):
            pairs.append((f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{blocks - 1 - i}.block.{j}."))
        if i < blocks - 1:
            pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
            pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{blocks - 1 - i}.upsample."))
    for coder in ("encoder", "decoder"):
        pairs += [(f"{coder}.mid_block.resnets.0.", f"{coder}.mid.block_1."),
                  (f"{coder}.mid_block.resnets.1.", f"{coder}.mid.block_2."),
                  (f"{coder}.mid_block.attentions.0.", f"{coder}.mid.attn_1."),
                  (f"{coder}.conv_norm_out.", f"{coder}.norm_out.")]
    attention = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
                 ("to_out.0.", "proj_out.")]
    converted = {}
    for key, value in state.items():
        new = key
        for old, ldm in pairs:
            if key.startswith(old):
                rest = key[len(old):]
                if ".attentions." in old:
                    for diffusers_part, ldm_part in attention:
                        if rest.startswith(diffusers_part):
                            rest = ldm_part + rest[len(diffusers_part):]
                            if ldm_part != "norm." and rest.endswith(".weight") and value.ndim == 2:
                                value = value.reshape(*value.shape, 1, 1)  # LDM uses 1x1 convs here
                rest = rest.replace("conv_shortcut.", "nin_shortcut.")
                new = ldm + rest
                break
        converted["first_stage_model." + new] = value
    return converted


def clip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """OpenAI CLIP text encoder (SD 1.x, SDXL's first): the transformers names under a prefix."""
    return {prefix + "text_model." + key.removeprefix("text_model."): value for key, value in state.items()}


OPEN_CLIP_LAYER = [("self_attn.out_proj.", "attn.out_proj."), ("layer_norm1.", "ln_1."), ("layer_norm2.", "ln_2."),
                   ("mlp.fc1.", "mlp.c_fc."), ("mlp.fc2.", "mlp.c_proj.")]


def open_clip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """OpenCLIP text encoder (SD 2.x, SDXL's second): fused q/k/v `in_proj`, a transposed projection."""
    state = {key.removeprefix("text_model."): value for key, value in state.items()}
    converted = {
        prefix + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
        prefix + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
        prefix + "ln_final.weight": state.pop("final_layer_norm.weight"),
        prefix + "ln_final.bias": state.pop("final_layer_norm.bias"),
    }
    if "text_projection.weight" in state:
        converted[prefix + "text_projection"] = state.pop("text_projection.weight").T
    layers = sorted({int(key.split(".")[2]) for key in state if key.startswith("encoder.layers.")})
    for i in layers:
        source, target = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{source}self_attn.{name}_proj.{kind}") for name in ("q", "k", "v")]
            converted[f"{target}attn.in_proj_{kind}"] = torch.cat(parts)
        for key in [k for k in state if k.startswith(source)]:
            rest = key[len(source):]
            for diffusers_part, ldm_part in OPEN_CLIP_LAYER:
                rest = rest.replace(diffusers_part, ldm_part)
            converted[target + rest] = state.pop(key)
    return converted


def save_ldm_checkpoint(pipe, path: Path, dtype: torch.dtype = torch.float16, open_clip: bool = False) -> Path:
    """A pipeline -> one `.safetensors` file laid out as CompVis/Stability/A1111 checkpoints are.

    SD 1.x: CLIP under `cond_stage_model.transformer.`; SD 2.x (`open_clip=True`): OpenCLIP under
    `cond_stage_model.model.`; SDXL (a pipeline with `text_encoder_2`): `conditioner.embedders.0/1`."""
    state = unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config)
    state |= vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config)
    if getattr(pipe, "text_encoder_2", None) is not None:
        state |= clip_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer.")
        state |= open_clip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model.")
    elif open_clip:
        state |= open_clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.model.")
    else:
        state |= clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.transformer.")
    state = {key: value.to(dtype).contiguous() for key, value in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
