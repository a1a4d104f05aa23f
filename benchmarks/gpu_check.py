"""GPU check: CUDA fp16 generation of full-size SD 1.5 and SDXL (random weights) through our engine and diffusers.

One call of a few minutes on a CUDA machine, for the day a GPU is at hand. It reports, per family:
- pixels of our engine on the GPU (fp16) against our engine on the CPU (fp32), same seed and size;
- speed, ours vs diffusers' pipeline on the same GPU and the same modules, at 512 and 1024
  (steps per second of the whole job: prompt encoding, sampling with previews, decode);
- the fp16 VAE trap: a VAE whose activations leave the fp16 range decodes to NaN (a black image)
  in plain fp16; our engine keeps such a VAE (`force_upcast`, as SDXL's) in fp32 and must not;
- the speed options, each measured through our engine: SDPA attention (diffusers' default) against
  the classic attention processor, channels_last, and torch.compile of the UNet.
Models are built locally from resources/configs/ (no hub). `--dry-run` runs every check on the CPU
with small models and sizes, so the script is tested where no GPU is.

Usage: python benchmarks/gpu_check.py [--out results.json] [--dry-run] [--skip-sdxl]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from diffusers.models.attention_processor import AttnProcessor
from random_models import sd15_pipeline, sdxl_pipeline

from sdstudio.engine.components import SD_PREVIEW_FACTORS, SDXL_PREVIEW_FACTORS, LoadedModel
from sdstudio.engine.engine import Engine
from sdstudio.engine.latents import decode
from sdstudio.engine.models import _to_device  # the loader's own device/dtype step, VAE upcast included
from sdstudio.engine.requests import GenerationRequest
from sdstudio.engine.samplers import make_scheduler


@dataclass(frozen=True)
class Plan:
    device: torch.device
    dtype: torch.dtype
    small: bool
    sizes: tuple[int, ...]
    steps: int
    runs: int
    reference_size: int  # CPU fp32 vs GPU fp16 pixels, at a size the CPU manages in seconds
    reference_steps: int
    compile_backend: str

    @classmethod
    def for_args(cls, args: argparse.Namespace) -> Plan:
        if args.dry_run:
            return cls(torch.device("cpu"), torch.float32, True, (64, 128), 2, 1, 64, 2, "eager")
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU: run with --dry-run to check the script on the CPU")
        return cls(torch.device("cuda"), torch.float16, False, (512, 1024), 20, 2, 256, 4, "inductor")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], object]) -> tuple[float, object]:
    sync(device)
    started = time.perf_counter()
    result = work()
    sync(device)
    return time.perf_counter() - started, result


def as_model(pipe, family: str, device: torch.device, dtype: torch.dtype) -> LoadedModel:
    """The pipeline's own modules as a LoadedModel on `device` in `dtype`, the way the loader leaves
    them (moved in place, so the pipeline and the engine share every weight)."""
    encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if family == "sdxl" else [])
    tokenizers = [pipe.tokenizer] + ([pipe.tokenizer_2] if family == "sdxl" else [])
    for module in (pipe.unet, pipe.vae, *encoders):
        if module.dtype != dtype:
            module.to(dtype=dtype)
    model = LoadedModel(
        name=f"random-{family}", family=family, unet=pipe.unet, vae=pipe.vae, text_encoders=encoders,
        tokenizers=tokenizers, scheduler_config=dict(pipe.scheduler.config), device=torch.device("cpu"),
        dtype=dtype, preview_factors=SDXL_PREVIEW_FACTORS if family == "sdxl" else SD_PREVIEW_FACTORS,
        default_size=1024 if family == "sdxl" else 512,
    )
    return _to_device(model, device, dtype)


def request(size: int, steps: int, family: str) -> GenerationRequest:
    cfg = 5.0 if family == "sdxl" else 7.0
    return GenerationRequest("a lighthouse at dusk", "blurry", sampler="Euler", steps=steps, cfg_scale=cfg, seed=1234,
                             width=size, height=size)


def run_ours(engine: Engine, job: GenerationRequest, device: torch.device) -> tuple[float, np.ndarray]:
    previews = []
    seconds, result = timed(device, lambda: engine.generate(job, on_step=previews.append))
    assert len(previews) == job.steps and previews[-1].preview is not None
    return seconds, np.asarray(result.images[0].image, dtype=np.int16)


def run_diffusers(pipe, model: LoadedModel, job: GenerationRequest, device: torch.device) -> tuple[float, np.ndarray]:
    """diffusers' pipeline as users run it. Its VAE is given in the model's dtype (the pipeline upcasts
    a `force_upcast` VAE itself, for the decode only), then put back as our loader keeps it."""
    vae_dtype = model.vae.dtype
    model.vae.to(dtype=model.dtype)
    pipe.scheduler = make_scheduler(job.sampler, model.scheduler_config)
    try:
        seconds, result = timed(device, lambda: pipe(
            job.prompt, negative_prompt=job.negative_prompt, num_inference_steps=job.steps,
            guidance_scale=job.cfg_scale, width=job.width, height=job.height,
            generator=torch.Generator("cpu").manual_seed(job.seed)))
    finally:
        model.vae.to(dtype=vae_dtype)
    return seconds, np.asarray(result.images[0], dtype=np.int16)


def pixel_difference(a: np.ndarray, b: np.ndarray) -> dict:
    difference = np.abs(a - b)
    return {"max": int(difference.max()), "mean": round(float(difference.mean()), 3)}


def speed(engine: Engine, pipe, model: LoadedModel, plan: Plan, family: str) -> list[dict]:
    """Ours vs diffusers at each size: a warm-up each, then interleaved runs; medians."""
    rows = []
    for size in plan.sizes:
        job = request(size, plan.steps, family)
        run_ours(engine, job, plan.device)
        run_diffusers(pipe, model, job, plan.device)
        ours, theirs, difference = [], [], 0
        for index in range(plan.runs):  # alternating who goes first: a busy moment hits both alike
            if index % 2:
                t_theirs, image_theirs = run_diffusers(pipe, model, job, plan.device)
                t_ours, image_ours = run_ours(engine, job, plan.device)
            else:
                t_ours, image_ours = run_ours(engine, job, plan.device)
                t_theirs, image_theirs = run_diffusers(pipe, model, job, plan.device)
            ours.append(t_ours)
            theirs.append(t_theirs)
            difference = max(difference, int(np.abs(image_ours - image_theirs).max()))
        t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
        rows.append({"size": size, "steps": plan.steps, "ours_s": round(t_ours, 3), "diffusers_s": round(t_theirs, 3),
                     "ours_it_s": round(plan.steps / t_ours, 2), "diffusers_it_s": round(plan.steps / t_theirs, 2),
                     "ratio": round(t_ours / t_theirs, 3), "max_pixel_difference": difference})
        print(f"  {family} {size}x{size}: ours {rows[-1]['ours_it_s']} it/s, diffusers {rows[-1]['diffusers_it_s']}"
              f" it/s, ratio {rows[-1]['ratio']}, max pixel difference {difference}", flush=True)
    return rows


def fp16_vae_trap(model: LoadedModel, plan: Plan) -> dict:
    """SDXL's VAE overflows fp16 with its real weights; random weights do not, so a copy is made to:
    a mid-block conv scaled up, which fp32 renormalises in the next GroupNorm and fp16 turns into
    inf, then NaN. Plain fp16 decode vs our loader's handling of a `force_upcast` VAE."""
    vae = copy.deepcopy(model.vae).to(dtype=torch.float32)
    with torch.no_grad():
        vae.decoder.mid_block.resnets[0].conv1.weight.mul_(1e5)
    assert vae.config.force_upcast, "SDXL's VAE config asks for fp32"
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator("cpu").manual_seed(0)).to(plan.device)
    report: dict = {}
    try:
        plain = copy.deepcopy(vae).to(plan.device, torch.float16)
        with torch.inference_mode():
            pixels = plain.decode(latents.half() / plain.config.scaling_factor).sample
        report["plain_fp16_has_nan"] = bool(torch.isnan(pixels).any() or torch.isinf(pixels).any())
    except RuntimeError as error:  # CPUs without fp16 convolution kernels
        report["plain_fp16_has_nan"] = f"not run: {str(error).splitlines()[0][:120]}"
    ours = _to_device(replace(model, vae=vae.to(dtype=torch.float16)), plan.device, torch.float16)
    image = np.asarray(decode(ours.vae, latents.to(torch.float16))[0], dtype=np.float32)
    report["engine_vae_dtype"] = str(ours.vae.dtype).removeprefix("torch.")
    report["engine_image_ok"] = bool(np.isfinite(image).all() and image.std() > 0)  # NaN decodes to black
    print(f"  fp16 VAE trap: plain fp16 NaN: {report['plain_fp16_has_nan']}; our engine's VAE in "
          f"{report['engine_vae_dtype']}, image ok: {report['engine_image_ok']}", flush=True)
    return report


def speed_options(engine: Engine, model: LoadedModel, plan: Plan, family: str) -> list[dict]:
    """Each option alone, through our engine at the first size; the UNet is restored after each."""
    job = request(plan.sizes[0], plan.steps, family)
    unet = model.unet
    default_processors = unet.attn_processors
    rows = []

    def measure(name: str, setup: Callable[[], None], teardown: Callable[[], None]) -> None:
        """One option; one that fails here (no Triton or no compiler for torch.compile) is reported, not fatal."""
        try:
            setup()
            warm_up, _ = run_ours(engine, job, plan.device)  # includes compilation, where there is one
            seconds = statistics.median(run_ours(engine, job, plan.device)[0] for _ in range(plan.runs))
        except Exception as error:  # noqa: BLE001 - the other options' figures still count
            rows.append({"option": name, "size": job.width, "error": str(error).splitlines()[0][:200]})
            print(f"  {family} option {name}: failed: {rows[-1]['error']}", flush=True)
            return
        finally:
            teardown()
        rows.append({"option": name, "size": job.width, "seconds": round(seconds, 3),
                     "it_s": round(plan.steps / seconds, 2), "first_run_s": round(warm_up, 3)})
        print(f"  {family} option {name}: {rows[-1]['it_s']} it/s (first run {warm_up:.1f} s)", flush=True)

    def nothing() -> None:
        pass

    def compiled() -> None:
        model.unet = torch.compile(unet, backend=plan.compile_backend)

    def uncompiled() -> None:
        model.unet = unet

    measure("SDPA attention (default)", nothing, nothing)
    measure("classic attention", lambda: unet.set_attn_processor(AttnProcessor()),
            lambda: unet.set_attn_processor(default_processors))
    measure("channels_last UNet", lambda: unet.to(memory_format=torch.channels_last),
            lambda: unet.to(memory_format=torch.contiguous_format))
    measure(f"torch.compile UNet ({plan.compile_backend})", compiled, uncompiled)
    return rows


def check_family(family: str, plan: Plan) -> dict:
    print(f"{family}: building (random weights, {'small' if plan.small else 'full size'})", flush=True)
    build = sdxl_pipeline if family == "sdxl" else sd15_pipeline
    pipe = build(small=plan.small)
    pipe.set_progress_bar_config(disable=True)
    engine = Engine()
    reference_job = request(plan.reference_size, plan.reference_steps, family)
    engine.use(as_model(pipe, family, torch.device("cpu"), torch.float32))
    _, cpu_pixels = run_ours(engine, reference_job, torch.device("cpu"))
    model = as_model(pipe, family, plan.device, plan.dtype)
    engine.use(model)
    _, device_pixels = run_ours(engine, reference_job, plan.device)
    versus_cpu = pixel_difference(device_pixels, cpu_pixels)
    print(f"  {plan.device.type} {plan.dtype} vs cpu fp32 at {plan.reference_size}: {versus_cpu}", flush=True)
    versus_cpu["image_ok"] = bool(device_pixels.std() > 0)  # fp16 NaN anywhere decodes to a black image
    report = {"family": family, "versus_cpu_fp32": versus_cpu, "speed": speed(engine, pipe, model, plan, family)}
    if family == "sdxl":
        report["fp16_vae_trap"] = fp16_vae_trap(model, plan)
    else:  # SD 1.5 only: a compile of SDXL's UNet alone takes minutes
        report["speed_options"] = speed_options(engine, model, plan, family)
    if plan.device.type == "cuda":
        report["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(plan.device) / 2**30, 2)
    del pipe, model, engine
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(plan.device)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, small models and sizes: checks the script")
    parser.add_argument("--skip-sdxl", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    plan = Plan.for_args(args)
    started = time.perf_counter()
    device_name = torch.cuda.get_device_name(plan.device) if plan.device.type == "cuda" else "cpu"
    print(f"device: {device_name}, {plan.dtype}, torch {torch.__version__}", flush=True)
    results = {"device": device_name, "dtype": str(plan.dtype).removeprefix("torch."), "dry_run": args.dry_run,
               "families": [check_family(family, plan) for family in ("sd15", "sdxl")[: 1 if args.skip_sdxl else 2]]}
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(f"done in {results['seconds']} s", flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
