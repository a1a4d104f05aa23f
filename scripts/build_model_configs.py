"""Write the weights-free diffusers config folders in resources/configs/ (run once; output is committed).

diffusers' single-file loading needs a diffusers-format config for the checkpoint's architecture;
without a local one it asks the hub. These are the published configurations of SD 1.x,
SD 1.x inpainting, SD 2.x (v-prediction and epsilon), SD 2.x inpainting and SDXL base/inpainting,
written from their known hyperparameters. tests/engine/test_model_configs.py checks them against
the published parameter counts.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import diffusers
from transformers import CLIPTextConfig

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "resources" / "configs"
TOKENIZERS = ROOT / "resources" / "tokenizers"

SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def unet_sd(in_channels: int, cross_dim: int, heads, linear: bool, sample_size: int) -> dict:
    return {
        "_class_name": "UNet2DConditionModel",
        "act_fn": "silu",
        "attention_head_dim": heads,
        "block_out_channels": [320, 640, 1280, 1280],
        "center_input_sample": False,
        "cross_attention_dim": cross_dim,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": in_channels,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 32,
        "out_channels": 4,
        "sample_size": sample_size,
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        "use_linear_projection": linear,
        "upcast_attention": False,
    }


def unet_sdxl(in_channels: int) -> dict:
    return {
        "_class_name": "UNet2DConditionModel",
        "act_fn": "silu",
        "addition_embed_type": "text_time",
        "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": 256,
        "attention_head_dim": [5, 10, 20],
        "block_out_channels": [320, 640, 1280],
        "center_input_sample": False,
        "cross_attention_dim": 2048,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "downsample_padding": 1,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "in_channels": in_channels,
        "layers_per_block": 2,
        "mid_block_scale_factor": 1,
        "norm_eps": 1e-05,
        "norm_num_groups": 32,
        "out_channels": 4,
        "projection_class_embeddings_input_dim": 2816,
        "sample_size": 128,
        "transformer_layers_per_block": [1, 2, 10],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "use_linear_projection": True,
    }


def vae(sample_size: int, scaling_factor: float, force_upcast: bool) -> dict:
    return {
        "_class_name": "AutoencoderKL",
        "act_fn": "silu",
        "block_out_channels": [128, 256, 512, 512],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "in_channels": 3,
        "latent_channels": 4,
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "out_channels": 3,
        "sample_size": sample_size,
        "scaling_factor": scaling_factor,
        "force_upcast": force_upcast,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
    }


CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
              hidden_act="quick_gelu", projection_dim=768)
OPEN_CLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                   hidden_act="gelu", projection_dim=512)
OPEN_CLIP_BIGG = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                      hidden_act="gelu", projection_dim=1280)


def write_text_encoder(folder: Path, architecture: str, settings: dict) -> None:
    config = CLIPTextConfig(
        vocab_size=49408, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
        layer_norm_eps=1e-05, **settings,
    )
    config.architectures = [architecture]
    config.save_pretrained(folder)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def scheduler(class_name: str, prediction_type: str) -> dict:
    data = {"_class_name": class_name, **SCHEDULE, "prediction_type": prediction_type, "steps_offset": 1,
            "clip_sample": False, "set_alpha_to_one": False, "timestep_spacing": "leading"}
    if class_name == "EulerDiscreteScheduler":
        data.update(interpolation_type="linear", use_karras_sigmas=False)
    if class_name == "PNDMScheduler":
        data.update(skip_prk_steps=True)
    return data


def write_sd(name: str, pipeline: str, in_channels: int, v2: bool, prediction: str, size: int) -> None:
    folder = CONFIGS / name
    shutil.rmtree(folder, ignore_errors=True)
    version = diffusers.__version__
    write_json(folder / "model_index.json", {
        "_class_name": pipeline, "_diffusers_version": version,
        "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler" if not v2 else "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    })
    heads = [5, 10, 20, 20] if v2 else 8
    write_json(folder / "unet" / "config.json", unet_sd(in_channels, 1024 if v2 else 768, heads, v2, size // 8))
    write_json(folder / "vae" / "config.json", vae(size, 0.18215, False))
    write_json(folder / "scheduler" / "scheduler_config.json",
               scheduler("DDIMScheduler" if v2 else "PNDMScheduler", prediction))
    write_text_encoder(folder / "text_encoder", "CLIPTextModel", OPEN_CLIP_H if v2 else CLIP_L)
    shutil.copytree(TOKENIZERS / ("clip-pad-excl" if v2 else "clip"), folder / "tokenizer")


def write_sdxl(name: str, pipeline: str, in_channels: int) -> None:
    folder = CONFIGS / name
    shutil.rmtree(folder, ignore_errors=True)
    write_json(folder / "model_index.json", {
        "_class_name": pipeline, "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None], "image_encoder": [None, None], "force_zeros_for_empty_prompt": True,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    })
    write_json(folder / "unet" / "config.json", unet_sdxl(in_channels))
    write_json(folder / "vae" / "config.json", vae(1024, 0.13025, True))
    write_json(folder / "scheduler" / "scheduler_config.json", scheduler("EulerDiscreteScheduler", "epsilon"))
    write_text_encoder(folder / "text_encoder", "CLIPTextModel", CLIP_L)
    write_text_encoder(folder / "text_encoder_2", "CLIPTextModelWithProjection", OPEN_CLIP_BIGG)
    shutil.copytree(TOKENIZERS / "clip", folder / "tokenizer")
    shutil.copytree(TOKENIZERS / "clip-pad-excl", folder / "tokenizer_2")


def main() -> None:
    write_sd("sd1", "StableDiffusionPipeline", 4, v2=False, prediction="epsilon", size=512)
    write_sd("sd1-inpainting", "StableDiffusionInpaintPipeline", 9, v2=False, prediction="epsilon", size=512)
    write_sd("sd2-v", "StableDiffusionPipeline", 4, v2=True, prediction="v_prediction", size=768)
    write_sd("sd2", "StableDiffusionPipeline", 4, v2=True, prediction="epsilon", size=512)
    write_sd("sd2-inpainting", "StableDiffusionInpaintPipeline", 9, v2=True, prediction="epsilon", size=512)
    write_sdxl("sdxl", "StableDiffusionXLPipeline", 4)
    write_sdxl("sdxl-inpainting", "StableDiffusionXLInpaintPipeline", 9)
    for folder in sorted(CONFIGS.iterdir()):
        print(folder.relative_to(ROOT))


if __name__ == "__main__":
    main()
