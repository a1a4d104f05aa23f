"""Architectures of the built-in model: Stable Diffusion's UNet, CLIP text encoder and scheduler, scaled down.

One source of truth for the configs, used by training, export and tests (tests pass tiny overrides).
"""

from __future__ import annotations

from diffusers import DDPMScheduler, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from sdstudio.train.common import TOKENIZER_DIR

MAX_TOKENS = 77

TEXT_CONFIG = dict(
    vocab_size=49408,
    max_position_embeddings=MAX_TOKENS,
    hidden_size=256,
    intermediate_size=1024,
    num_hidden_layers=3,
    num_attention_heads=4,
    projection_dim=256,
    hidden_act="quick_gelu",
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=49407,
)

UNET_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    # Attention only at 8x8 and 4x4: at 16x16 it would cost ~30% more compute for little gain.
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(48, 96, 192),  # ~0.65 GFLOP per 16x16 latent: sized for 2 shared CPU cores
    layers_per_block=1,
    cross_attention_dim=256,
    attention_head_dim=(2, 4, 6),  # diffusers' SD1 naming: this is the number of heads
    norm_num_groups=16,
)

# The schedule SD 1.x was trained with, so every diffusers scheduler can sample the model.
SCHEDULE = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    steps_offset=1,
    timestep_spacing="leading",
    clip_sample=False,
)


def make_text_encoder(**overrides) -> CLIPTextModel:
    return CLIPTextModel(CLIPTextConfig(**{**TEXT_CONFIG, **overrides}))


def make_unet(**overrides) -> UNet2DConditionModel:
    return UNet2DConditionModel(**{**UNET_CONFIG, **overrides})


def load_tokenizer() -> CLIPTokenizer:
    return CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))


def train_scheduler() -> DDPMScheduler:
    return DDPMScheduler(**SCHEDULE)


def sample_scheduler() -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(**{k: v for k, v in SCHEDULE.items() if k != "clip_sample"})
