"""Our engine (previews on) vs diffusers' StableDiffusionPipeline on the same components.

Prints both median times with their spread (wall clock, and CPU time, which a machine shared with
other jobs disturbs less), their ratio (goal: <= 1.00) and the max pixel difference (goal: <= 1).
Usage: python benchmarks/engine_vs_diffusers.py [--model NAME|PATH | --full-size | --random]
       [--steps 20] [--size 512] [--sampler Euler] [--runs 3] [--profile]. Without a model it uses
       the default (built-in) model, or, if none is installed, a small random SD-shaped model.
       --full-size builds (once, under --cache) a random full-size SD 1.5 single-file checkpoint in
       the LDM layout and loads it the way users' downloads are loaded.
       --profile adds one profiled run of each and prints where the time goes.
       diffusers' pipeline runs in a process of its own, as a diffusers script would (glibc's default
       allocator; the weights loaded from the same file by the same loader); --same-process runs it
       here over the very same modules, sharing engine.allocator's settings, to compare the loops alone.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sdstudio.engine.components import LoadedModel
from sdstudio.engine.engine import Engine
from sdstudio.engine.lora import loader_pipeline
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


def run_ours(engine: Engine, request: GenerationRequest) -> tuple[tuple[float, float], np.ndarray]:
    engine._cond_cache.clear()  # count prompt encoding, as the pipeline does every call
    previews = []
    started, cpu_started = time.perf_counter(), time.process_time()
    image = engine.generate(request, on_step=previews.append).images[0].image
    elapsed = time.perf_counter() - started, time.process_time() - cpu_started
    assert len(previews) == request.steps and previews[-1].preview is not None
    return elapsed, np.asarray(image, dtype=np.int16)


def run_theirs(
    pipe, request: GenerationRequest, keep_scheduler: bool = False
) -> tuple[tuple[float, float], np.ndarray]:
    if not keep_scheduler:
        pipe.scheduler = make_scheduler(request.sampler, pipe.scheduler.config)
    started, cpu_started = time.perf_counter(), time.process_time()
    image = pipe(
        request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_inference_steps=request.steps,
        guidance_scale=request.cfg_scale,
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(request.seed),
    ).images[0]
    return (time.perf_counter() - started, time.process_time() - cpu_started), np.asarray(image, dtype=np.int16)


def serve_diffusers(connection, model: str, threads: int) -> None:
    """The other process: loads the model as we do, then runs the pipeline for each request sent."""
    from sdstudio.engine.models import load_model, resolve_model

    if threads:
        torch.set_num_threads(threads)
    pipe = loader_pipeline(load_model(resolve_model(model)))
    pipe.set_progress_bar_config(disable=True)
    connection.send("ready")
    while (request := connection.recv()) is not None:
        connection.send(run_theirs(pipe, request))


class DiffusersProcess:
    """diffusers' pipeline in a fresh spawned process with none of our process settings."""

    def __init__(self, model: str, threads: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=serve_diffusers, args=(child, model, threads), daemon=True)
        self._process.start()
        if self._connection.recv() != "ready":
            raise RuntimeError("the diffusers process did not start")

    def __call__(self, request: GenerationRequest) -> tuple[tuple[float, float], np.ndarray]:
        self._connection.send(request)
        return self._connection.recv()

    def close(self) -> None:
        self._connection.send(None)
        self._process.join(30)


class PartTimer:
    """Wall time spent inside each component's calls during one run: the UNet, the VAE decode, the
    text encoder(s), the scheduler. Both sides share these very objects, so the parts compare like
    for like, and "everything else" is each loop's own overhead (previews, copies, conversions)."""

    def __init__(self, model: LoadedModel) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list = []
        self._wrap(model.unet, "forward", "UNet")
        self._wrap(model.vae, "decode", "VAE decode")
        for encoder in model.text_encoders:
            self._wrap(encoder, "forward", "text encoder")

    def _wrap(self, owner, name: str, part: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)
        self._undo.append((owner, name))

    def scheduler_steps(self, scheduler) -> None:
        for name in ("step", "scale_model_input"):
            self._wrap(scheduler, name, "scheduler")

    def close(self) -> None:
        for owner, name in self._undo:
            delattr(owner, name)  # the instance attribute goes; the class's method shows again


def profile_parts(model: LoadedModel, run) -> dict[str, float]:
    timer = PartTimer(model)
    started = time.perf_counter()
    try:
        run(timer)
    finally:
        timer.close()
    total = time.perf_counter() - started
    parts = dict(timer.seconds)
    parts["everything else"] = total - sum(parts.values())
    parts["total"] = total
    return parts


def print_profile(engine: Engine, pipe, request: GenerationRequest) -> None:
    """One timed run each, split by component; then our loop's own functions by cProfile tottime."""
    import cProfile
    import pstats

    import sdstudio.engine.engine as engine_module
    import sdstudio.engine.samplers as samplers_module

    model = engine.model

    def run_engine(timer: PartTimer) -> None:
        def make(name, config):
            scheduler = make_scheduler(name, config)
            timer.scheduler_steps(scheduler)
            return scheduler

        engine_module.make_scheduler = make
        try:
            run_ours(engine, request)
        finally:
            engine_module.make_scheduler = samplers_module.make_scheduler

    def run_pipeline(timer: PartTimer) -> None:
        pipe.scheduler = make_scheduler(request.sampler, pipe.scheduler.config)
        timer.scheduler_steps(pipe.scheduler)
        run_theirs(pipe, request, keep_scheduler=True)

    ours = profile_parts(model, run_engine)
    theirs = profile_parts(model, run_pipeline)
    print("where the time goes (one run each, wall seconds):  ours  diffusers")
    for part in dict.fromkeys([*ours, *theirs]):
        print(f"  {part:<30} {ours.get(part, 0.0):9.3f} {theirs.get(part, 0.0):9.3f}")
    profiler = cProfile.Profile()
    profiler.runcall(run_ours, engine, request)
    stats = pstats.Stats(profiler).stats
    own = sorted(
        ((values[2], f"{Path(key[0]).name}:{key[2]}") for key, values in stats.items() if "sdstudio" in key[0]),
        reverse=True,
    )[:12]
    print("our own code, by time in the function itself (cProfile tottime, seconds):")
    for seconds, name in own:
        print(f"  {name:<44} {seconds:9.4f}")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--random", action="store_true", help="use a random SD-shaped model")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--sampler", default="Euler")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full-size", action="store_true", help="a random full-size SD 1.5 single-file checkpoint")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sdstudio-bench"), help="where --full-size keeps it")
    parser.add_argument("--profile", action="store_true", help="one profiled run each: where the time goes")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default); 1 on a crowded machine"
    )
    parser.add_argument(
        "--same-process", action="store_true", help="diffusers in this process, over the very same modules"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    engine = Engine()
    if args.full_size:
        from random_models import sd15_checkpoint

        args.model = str(sd15_checkpoint(args.cache / "random-sd15.safetensors"))
    in_memory = args.random
    if args.random:
        engine.use(random_model())
    else:
        try:
            engine.load(args.model)
        except ModelError as error:
            print(f"{error}; using a random SD-shaped model instead")
            engine.use(random_model())
            in_memory = True
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
    pipe = loader_pipeline(model)  # diffusers' pipeline over the very same modules
    pipe.set_progress_bar_config(disable=True)
    if args.profile:
        run_ours(engine, request)  # warm-up both
        run_theirs(pipe, request)
        print_profile(engine, pipe, request)
    own_process = not (args.same_process or in_memory)
    theirs_runner = DiffusersProcess(args.model, args.threads) if own_process else lambda r: run_theirs(pipe, r)
    where = "its own process" if own_process else "this process, the same modules"
    run_ours(engine, request)  # warm-up both
    theirs_runner(request)
    ours, theirs, difference = [], [], 0
    for index in range(args.runs):  # interleaved, alternating who goes first: load hits both alike
        if index % 2:
            t_theirs, image_theirs = theirs_runner(request)
            t_ours, image_ours = run_ours(engine, request)
        else:
            t_ours, image_ours = run_ours(engine, request)
            t_theirs, image_theirs = theirs_runner(request)
        ours.append(t_ours)
        theirs.append(t_theirs)
        difference = max(difference, int(np.abs(image_ours - image_theirs).max()))
    print(
        f"model: {model.name} ({model.family}), {size}x{size}, {args.steps} steps {args.sampler}, "
        f"{engine.device_name}, {torch.get_num_threads()} threads, {args.runs} runs; diffusers in {where}"
    )
    if own_process:
        theirs_runner.close()
    for index, clock in enumerate(("wall", "cpu")):
        mine, pipeline = [t[index] for t in ours], [t[index] for t in theirs]
        ratios = [a / b for a, b in zip(mine, pipeline, strict=True)]
        print(f"{clock} sdstudio engine (previews on): {spread(mine)}")
        print(f"{clock} diffusers pipeline:            {spread(pipeline)}")
        print(
            f"{clock} ratio engine/diffusers:        {statistics.median(mine) / statistics.median(pipeline):.3f} "
            f"(goal <= 1.00; per pair {', '.join(f'{r:.3f}' for r in ratios)})"
        )
    print(f"max pixel difference:          {difference} (goal <= 1)")


if __name__ == "__main__":
    main()
