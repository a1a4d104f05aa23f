import json

import numpy as np
import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

from sdstudio.train.export import export
from sdstudio.train.sample import generate
from tests.train.helpers import tiny_run


def test_export_writes_a_diffusers_folder_that_loads(tmp_path):
    run = tiny_run(tmp_path)
    out = tmp_path / "sdstudio-emoji"
    info = export(run, out, tmp_path / "data.npz", fp16="auto")
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None] and index["unet"] == ["diffusers", "UNet2DConditionModel"]
    meta = json.loads((out / "sdstudio.json").read_text())
    assert meta["builtin"] is True and meta["default_size"] == 64 and meta == json.loads(json.dumps(info))
    assert np.array(meta["latent_rgb_factors"]).shape == (4, 3) and len(meta["latent_rgb_bias"]) == 3
    sched = json.loads((out / "scheduler" / "scheduler_config.json").read_text())
    assert sched["beta_schedule"] == "scaled_linear" and sched["steps_offset"] == 1
    assert (out / "README.md").exists() and not (tmp_path / "sdstudio-emoji.tmp").exists()

    unet = UNet2DConditionModel.from_pretrained(out, subfolder="unet", torch_dtype=torch.float32)
    vae = AutoencoderKL.from_pretrained(out, subfolder="vae", torch_dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(out, subfolder="text_encoder", torch_dtype=torch.float32)
    tokenizer = CLIPTokenizer.from_pretrained(out, subfolder="tokenizer")
    scheduler = EulerDiscreteScheduler.from_pretrained(out, subfolder="scheduler")
    images = generate(unet, text_encoder, tokenizer, vae, scheduler, ["square 1"], steps=2, size=16)
    assert images.shape == (1, 16, 16, 3)

    export(run, out, tmp_path / "data.npz", fp16="no")  # re-export replaces the folder in place
    assert json.loads((out / "sdstudio.json").read_text())["trained"]["dtype"] == "float32"
