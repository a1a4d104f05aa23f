"""Our engine (previews on) vs diffusers' StableDiffusionPipeline on the same components.

Prints both median times, their ratio (goal: <= 1.00) and the max pixel difference (goal: <= 1).
Usage: python benchmarks/engine_vs_diffusers.py [--model NAME|PATH] [--steps 20] [--size 512]
       [--sampler Euler] [--runs 3]. Without --model it uses the default (built-in) model, or,
       if none is installed, a randomly initialised SD-shaped model (--random).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.engine import Engine
from sdstudio.engine.requests import GenerationRequest
from sdstudio.engine.samplers import make_scheduler
from sdstudio.errors import ModelError


def random_model() -> LoadedModel:
    """A mid-sized random SD 1.x-shaped model (about 30M parameters), built locally."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from sdstudio import RESOURCES_DIR
    from sdstudio.engine.components import SD_PREVIEW_FACTORS

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(64, 128, 256),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=256,
        attention_head_dim=8,
        layers_per_block=1,
    ).eval()
    vae = AutoencoderKL(
        block_out_channels=(32, 64, 64, 64),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        norm_num_groups=16,
    ).eval()
    text = CLIPTextModel(
        CLIPTextConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4)
    ).eval()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    return LoadedModel(
        name="random-sd-small",
        family="sd1",
        unet=unet,
        vae=vae,
        text_encoders=[text],
        tokenizers=[CLIPTokenizer.from_pretrained(RESOURCES_DIR / "tokenizers" / "clip")],
        scheduler_config=dict(scheduler.config),
        device=torch.device("cpu"),
        dtype=torch.float32,
        preview_factors=SD_PREVIEW_FACTORS,
        default_size=512,
    )


def pipeline_for(model: LoadedModel):
    if model.is_sdxl:
        return StableDiffusionXLPipeline(
            vae=model.vae,
            text_encoder=model.text_encoders[0],
            text_encoder_2=model.text_encoders[1],
            tokenizer=model.tokenizers[0],
            tokenizer_2=model.tokenizers[1],
            unet=model.unet,
            scheduler=make_scheduler("Euler", model.scheduler_config),
        )
    return StableDiffusionPipeline(
        vae=model.vae,
        text_encoder=model.text_encoders[0],
        tokenizer=model.tokenizers[0],
        unet=model.unet,
        scheduler=make_scheduler("Euler", model.scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def run_ours(engine: Engine, request: GenerationRequest) -> tuple[float, np.ndarray]:
    engine._cond_cache.clear()  # count prompt encoding, as the pipeline does every call
    previews = []
    started = time.perf_counter()
    image = engine.generate(request, on_step=previews.append).images[0].image
    elapsed = time.perf_counter() - started
    assert len(previews) == request.steps and previews[-1].preview is not None
    return elapsed, np.asarray(image, dtype=np.int16)


def run_theirs(pipe, request: GenerationRequest) -> tuple[float, np.ndarray]:
    pipe.scheduler = make_scheduler(request.sampler, pipe.scheduler.config)
    started = time.perf_counter()
    image = pipe(
        request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_inference_steps=request.steps,
        guidance_scale=request.cfg_scale,
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(request.seed),
    ).images[0]
    return time.perf_counter() - started, np.asarray(image, dtype=np.int16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--random", action="store_true", help="use a random SD-shaped model")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--sampler", default="Euler")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    engine = Engine()
    if args.random:
        engine.use(random_model())
    else:
        try:
            engine.load(args.model)
        except ModelError as error:
            print(f"{error}; using a random SD-shaped model instead")
            engine.use(random_model())
    model = engine.model
    size = args.size or model.default_size
    request = GenerationRequest(
        prompt="a red apple",
        negative_prompt="blurry",
        sampler=args.sampler,
        steps=args.steps,
        cfg_scale=7.0,
        seed=1234,
        width=size,
        height=size,
    )
    pipe = pipeline_for(model)
    pipe.set_progress_bar_config(disable=True)
    run_ours(engine, request)  # warm-up both
    run_theirs(pipe, request)
    ours, theirs, difference = [], [], 0
    for index in range(args.runs):  # interleaved, alternating who goes first: load hits both alike
        if index % 2:
            t_theirs, image_theirs = run_theirs(pipe, request)
            t_ours, image_ours = run_ours(engine, request)
        else:
            t_ours, image_ours = run_ours(engine, request)
            t_theirs, image_theirs = run_theirs(pipe, request)
        ours.append(t_ours)
        theirs.append(t_theirs)
        difference = max(difference, int(np.abs(image_ours - image_theirs).max()))
    median_ours, median_theirs = statistics.median(ours), statistics.median(theirs)
    print(
        f"model: {model.name} ({model.family}), {size}x{size}, {args.steps} steps {args.sampler}, "
        f"{engine.device_name}, {torch.get_num_threads()} threads, {args.runs} runs"
    )
    print(f"sdstudio engine (previews on): {median_ours:.3f} s")
    print(f"diffusers pipeline:            {median_theirs:.3f} s")
    print(f"ratio engine/diffusers:        {median_ours / median_theirs:.3f} (goal <= 1.00)")
    print(f"max pixel difference:          {difference} (goal <= 1)")


if __name__ == "__main__":
    main()
