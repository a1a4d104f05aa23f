"""Tiny configs of the built-in model's components and a tiny run folder, built locally in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from sdstudio.train import dataset as ds
from sdstudio.train.common import atomic_save
from sdstudio.train.models import make_text_encoder, make_unet
from sdstudio.train.vae import make_vae

TINY_VAE = dict(
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    block_out_channels=(8, 16),
    norm_num_groups=4,
    sample_size=16,
)
TINY_UNET = dict(
    sample_size=8,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(8, 16),
    norm_num_groups=4,
    cross_attention_dim=16,
    attention_head_dim=2,
)
TINY_TEXT = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, projection_dim=16)


def tiny_data(n: int = 12, size: int = 16) -> ds.EmojiData:
    """Coloured squares on white, with captions, a few held out."""
    rng = np.random.default_rng(0)
    images = np.full((n, size, size, 3), 255, np.uint8)
    for i in range(n):
        images[i, 4:12, 4:12] = rng.integers(0, 255, 3)
    captions = [f"square {i}" for i in range(n)]
    return ds.EmojiData(images, [str(i) for i in range(n)], captions, [[] for _ in range(n)], np.arange(n) % 4 == 0)


def tiny_run(folder: Path) -> Path:
    """A run folder as training leaves it: data npz, vae/, unet_state.pt (random tiny weights)."""
    torch.manual_seed(0)
    ds.save(tiny_data(), folder / "data.npz")
    make_vae(**TINY_VAE).save_pretrained(folder / "run" / "vae")
    unet, text_encoder = make_unet(**TINY_UNET), make_text_encoder(**TINY_TEXT)
    state = {
        "unet": unet.state_dict(),
        "text_encoder": text_encoder.state_dict(),
        "ema_unet": unet.state_dict(),
        "ema_text_encoder": text_encoder.state_dict(),
        "run": {"step": 1, "epoch": 0.1, "elapsed": 1.0, "batch_size": 2},
        "unet_config": dict(unet.config),
        "text_config": text_encoder.config.to_dict(),
    }
    atomic_save(state, folder / "run" / "unet_state.pt")
    (folder / "run" / "vae_done.json").write_text(json.dumps({"heldout_psnr": 10.0, "epochs": 1}))
    return folder / "run"
