"""Our loop equals diffusers' pipelines pixel for pixel (within 1/255) for the same inputs."""

import numpy as np
import pytest
import torch

from sdstudio.engine.requests import GenerationRequest
from sdstudio.engine.samplers import make_scheduler


def pipeline_image(pipe, request: GenerationRequest) -> np.ndarray:
    pipe.scheduler = make_scheduler(request.sampler, pipe.scheduler.config)
    result = pipe(
        request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_inference_steps=request.steps,
        guidance_scale=request.cfg_scale,
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(request.seed),
        output_type="pil",
    )
    return np.asarray(result.images[0], dtype=np.int16)


@pytest.mark.parametrize("sampler", ["Euler", "DDIM", "DPM++ 2M", "Euler a", "DPM++ 2M Karras", "UniPC"])
def test_txt2img_equals_stable_diffusion_pipeline(sd_pipe, sd_engine, sampler):
    request = GenerationRequest(
        prompt="a red apple on a table",
        negative_prompt="blurry",
        sampler=sampler,
        steps=6,
        cfg_scale=7.5,
        seed=1234,
        width=64,
        height=48,
    )
    ours = np.asarray(sd_engine.generate(request).images[0].image, dtype=np.int16)
    theirs = pipeline_image(sd_pipe, request)
    assert ours.shape == theirs.shape == (48, 64, 3)
    assert np.abs(ours - theirs).max() <= 1
    assert ours.std() > 0  # a real picture, not a constant


def test_sdxl_txt2img_equals_sdxl_pipeline(sdxl_pipe, sdxl_engine):
    request = GenerationRequest(prompt="a rocket", sampler="Euler", steps=4, cfg_scale=5.0, seed=7, width=64, height=64)
    ours = np.asarray(sdxl_engine.generate(request).images[0].image, dtype=np.int16)
    theirs = pipeline_image(sdxl_pipe, request)
    assert np.abs(ours - theirs).max() <= 1
