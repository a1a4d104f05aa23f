import json
from pathlib import Path

import pytest
import torch

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "sdstudio-emoji"


@pytest.mark.skipif(not (SHIPPED / "model_index.json").exists(), reason="the built-in model is not exported yet")
def test_shipped_model_loads_and_draws_something():
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from sdstudio.train.sample import generate

    fp32 = torch.float32  # the engine computes in fp32 on CPU whatever dtype the files hold
    unet = UNet2DConditionModel.from_pretrained(SHIPPED, subfolder="unet", torch_dtype=fp32)
    vae = AutoencoderKL.from_pretrained(SHIPPED, subfolder="vae", torch_dtype=fp32)
    text_encoder = CLIPTextModel.from_pretrained(SHIPPED, subfolder="text_encoder", torch_dtype=fp32)
    tokenizer = CLIPTokenizer.from_pretrained(SHIPPED, subfolder="tokenizer")
    scheduler = EulerDiscreteScheduler.from_pretrained(SHIPPED, subfolder="scheduler")
    meta = json.loads((SHIPPED / "sdstudio.json").read_text())
    images = generate(unet, text_encoder, tokenizer, vae, scheduler, ["red apple"], steps=4, size=meta["default_size"])
    assert images.shape == (1, 64, 64, 3)
    assert images.std() > 5, "a few-step generation is not a constant image"
    size_mb = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file()) / 2**20
    assert size_mb <= 100
