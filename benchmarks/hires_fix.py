"""A hires-fix job vs its two passes run as separate jobs (goal: <= 1.05x).

    .venv/bin/python benchmarks/hires_fix.py [--model NAME|PATH] [--size 64] [--scale 2] [--steps 20]
        [--hires-steps 20] [--denoise 0.5] [--runs 5] [--device cpu|cuda]

The separate jobs are what a user without hires fix does by hand: a txt2img job at the base size,
then an img2img job of its Lanczos-enlarged image at `denoise` for `hires-steps`. The hires job
(Lanczos upscaler, so both do the same decode/resize/encode work) must cost no more: one model
load, one text encoding, no extra UNet step. Two baselines are printed: the pair of jobs sharing
the engine's cached text encoding (the strict one, which the goal is against) and the pair each
encoding its prompt, as two fresh jobs would. The latent upscaler's hires job is timed too.
Jobs are interleaved and each time is the median of `--runs`, so a busy machine skews all alike.
On a shared CPU run it with OMP_NUM_THREADS=1 (torch's threads otherwise fight other processes:
one 64 px job took 35 s instead of 1.5 s at load 13 on 2 cores).

Built-in model, CPU fp32, 64 px x2 -> 128 px, 20 + 10 steps, median of 9 (2 shared cores):
hires job 4.41 s (latent upscaler 4.45 s) vs 4.80 s for the two jobs: ratio 0.92.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
from PIL import Image

from sdstudio.engine.engine import Engine
from sdstudio.engine.requests import GenerationRequest, HiresFix, Upscaler, hires_size


def timed(engine: Engine, request: GenerationRequest, fresh_prompt: bool) -> tuple[float, Image.Image]:
    if fresh_prompt:
        engine._cond_cache.clear()  # as a new job with a prompt the engine has not seen
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    image = engine.generate(request).images[0].image
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--hires-steps", type=int, default=20)
    parser.add_argument("--denoise", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    engine = Engine(device=torch.device(args.device) if args.device else None)
    model = engine.load(args.model)
    base = GenerationRequest("a red apple", model=args.model, sampler="Euler", steps=args.steps, seed=1,
                             width=args.size, height=args.size)
    hires = HiresFix(args.scale, args.hires_steps, args.denoise, Upscaler.LANCZOS)
    size = hires_size(args.size, args.size, args.scale)
    times: dict[str, list[float]] = {name: [] for name in ("hires", "latent", "base", "second", "second_fresh")}
    for run in range(args.runs + 1):  # the first round warms up kernels and caches; not counted
        hires_time, _ = timed(engine, replace(base, hires=hires), fresh_prompt=True)
        latent_time, _ = timed(engine, replace(base, hires=replace(hires, upscaler=Upscaler.LATENT)), True)
        base_time, image = timed(engine, base, fresh_prompt=True)
        second = replace(base, steps=args.hires_steps, strength=args.denoise, width=size[0], height=size[1],
                         init_image=image.resize(size, Image.Resampling.LANCZOS))
        second_time, _ = timed(engine, second, fresh_prompt=False)
        second_fresh, _ = timed(engine, second, fresh_prompt=True)
        print(f"round {run}: hires {hires_time:.2f} s, latent {latent_time:.2f} s, base {base_time:.2f} s, "
              f"img2img {second_time:.2f} s ({second_fresh:.2f} s encoding its prompt)" + ("" if run else ", warm-up"),
              flush=True)
        if run:
            for name, value in zip(times, (hires_time, latent_time, base_time, second_time, second_fresh), strict=True):
                times[name].append(value)
    median = {name: statistics.median(values) for name, values in times.items()}
    strict = median["base"] + median["second"]
    fresh = median["base"] + median["second_fresh"]
    print(f"model {model.name} on {engine.device_name}: {args.size}px x{args.scale:g} -> {size[0]}x{size[1]}, "
          f"{args.steps} + {int(args.hires_steps * args.denoise)} steps, median of {args.runs}")
    print(f"hires job (lanczos)            {median['hires']:.3f} s")
    print(f"hires job (latent)             {median['latent']:.3f} s")
    print(f"base job + img2img job         {strict:.3f} s  ({median['base']:.3f} + {median['second']:.3f}, "
          "text encoding cached)")
    print(f"  each encoding its prompt     {fresh:.3f} s")
    print(f"ratio hires / two jobs         {median['hires'] / strict:.3f}  (goal <= 1.05)")
    print(f"ratio hires / two fresh jobs   {median['hires'] / fresh:.3f}")


if __name__ == "__main__":
    main()
