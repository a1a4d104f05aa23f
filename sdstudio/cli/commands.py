"""What each CLI command does, over the engine and sdstudio.io. Parsing lives in sdstudio.cli.parser."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path

from sdstudio.cli.batch_saver import BatchSaver, terminate_as_interrupt
from sdstudio.cli.request_args import request_from_args
from sdstudio.engine.requests import GenerationRequest, LoadEvent, StepEvent
from sdstudio.errors import Cancelled, InputError


def output_dir() -> Path:
    return Path(os.environ.get("SDSTUDIO_OUTPUT_DIR", "outputs"))


class Progress:
    """Step progress on stderr, only when a person is watching (a terminal)."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()

    def load(self, event: LoadEvent) -> None:
        if self.live:
            print(f"\rloading {event.model}: {event.stage} {event.fraction:4.0%}\033[K", end="", file=sys.stderr)

    def step(self, event: StepEvent) -> None:
        if event.warning:  # always, not only on a terminal: a script's log should say why it runs so long
            self.done()
            print(f"sdstudio: warning: {event.warning}", file=sys.stderr, flush=True)
        if self.live:
            line = f"image {event.image_index + 1}: step {event.step}/{event.total_steps}"
            print(f"\r{line}\033[K", end="", file=sys.stderr)

    def done(self) -> None:
        if self.live:
            print("\r\033[K", end="", file=sys.stderr)


def _preview_writer(folder: Path, request: GenerationRequest):
    """Writes each step's preview, scaled up to the image size so the files are viewable."""
    from PIL import Image

    from sdstudio.io.atomic import atomic_path

    batch = request.batch_count

    def write(event: StepEvent) -> None:
        if event.preview is None:
            return
        preview = event.preview.resize((request.width, request.height), Image.Resampling.BILINEAR)
        target = folder if batch == 1 else folder / f"image_{event.image_index + 1}"
        target.mkdir(parents=True, exist_ok=True)
        with atomic_path(target / f"step_{event.step:03d}.png") as temp:
            preview.save(temp, format="PNG")

    return write


def _check_outputs(args: argparse.Namespace, request: GenerationRequest) -> None:
    """Every place this run writes is writable, before any compute (here or on a ComfyUI server)."""
    from sdstudio.io.images import check_parameters_fit
    from sdstudio.io.writable import check_output_file, check_output_folder

    if args.out is not None:
        check_output_file(args.out)
        check_parameters_fit(args.out, f"{request.prompt}\n{request.negative_prompt}")
    else:
        check_output_folder(output_dir(), "the output folder (SDSTUDIO_OUTPUT_DIR)")
    if args.previews is not None:
        check_output_folder(args.previews, "--previews")


def _generate(args: argparse.Namespace, init_image=None, mask_image=None) -> int:
    from sdstudio.io.images import save_new_image, save_output
    from sdstudio.io.metadata import format_parameters

    if args.seed is None:
        args.seed = secrets.randbelow(2**32)
    request = request_from_args(args, (512, 512), init_image, mask_image)  # validates before any loading
    _check_outputs(args, request)
    if getattr(args, "backend", ""):  # ComfyUI servers do the work; no torch here
        from sdstudio.bridge.comfy.command import run_generation

        return run_generation(args, request, output_dir())
    from sdstudio.engine.checkpoint_format import check_model_file

    check_model_file(request.model)  # a hostile header is one line before torch loads
    from sdstudio.engine.engine import Engine  # only now: bad input is answered without loading torch

    progress = Progress()
    engine = Engine()
    model = engine.load(request.model, on_load=progress.load)
    if init_image is None and not (args.width and args.height):
        request = request_from_args(args, (model.default_size, model.default_size))
    previews = _preview_writer(args.previews, request) if args.previews else None

    def on_step(event: StepEvent) -> None:
        progress.step(event)
        if previews is not None:
            previews(event)

    def path_for(index: int, generated) -> Path:
        return args.out if args.out is not None else output_dir()

    def save(generated, target: Path) -> Path:
        """Never over an existing file: --out x.png taken -> x-1.png; a batch -> x-1.png, x-2.png."""
        parameters = format_parameters(generated.request, generated.model_name)
        if args.out is None:
            return save_output(generated.image, target, generated.seed, parameters)
        return save_new_image(generated.image, target, parameters, numbered=request.batch_count > 1)

    saver = BatchSaver(request.batch_count, path_for, save, before_print=progress.done)
    try:
        with terminate_as_interrupt():
            engine.generate(replace(request, previews=previews is not None), on_step=on_step, on_image=saver)
    except (Cancelled, KeyboardInterrupt):
        progress.done()
        print(f"sdstudio: interrupted: {saver.summary()}", file=sys.stderr)
        return 130
    progress.done()
    return 0


def run_generate(args: argparse.Namespace) -> int:
    return _generate(args)


def run_img2img(args: argparse.Namespace) -> int:
    from sdstudio.io.images import load_image

    return _generate(args, init_image=load_image(args.image))


def run_inpaint(args: argparse.Namespace) -> int:
    from sdstudio.io.images import load_image, load_mask

    image, mask = load_image(args.image), load_mask(args.mask)
    if mask.size != image.size:
        mask = mask.resize(image.size)
    return _generate(args, init_image=image, mask_image=mask)


def run_interpolate(args: argparse.Namespace) -> int:
    from sdstudio.engine.checkpoint_format import check_model_file
    from sdstudio.io.animation import (
        check_animation_options,
        check_animation_path,
        check_frames_folder,
        write_animation,
        write_frames,
    )
    from sdstudio.io.images import load_image

    check_animation_options(args.frames, args.fps)
    for side in (args.width, args.height):
        if side is not None and (side <= 0 or side % 8):
            raise InputError(f"size {side} is not a positive multiple of 8")
    if args.out is not None:
        check_animation_path(args.out)
    else:
        check_frames_folder(args.out_dir)
    check_model_file(args.model)
    if args.vae:
        from sdstudio.engine.vae_files import resolve_vae

        resolve_vae(args.vae)  # an unknown VAE is one line before any loading
    image_a, image_b = load_image(args.source), load_image(args.target)
    from sdstudio.engine.engine import Engine  # only now: bad input is answered without loading torch
    from sdstudio.engine.exploration import latent_walk
    from sdstudio.engine.interpolation import fit_image, fit_size

    default_w, default_h = fit_size(image_a)
    size = (args.width or default_w, args.height or default_h)
    engine = Engine()
    latent_a, latent_b = (engine.encode_image(fit_image(image, size), args.model, args.vae)
                          for image in (image_a, image_b))
    frames = latent_walk(engine, latent_a, latent_b, args.frames, args.mode, pacing=args.pacing, vae=args.vae).images
    if args.out is not None:
        print(write_animation(frames, args.out, fps=args.fps, overwrite=False))  # walk.gif taken -> walk-1.gif
    else:
        print(write_frames(frames, args.out_dir, overwrite=False)[0].parent)
    return 0


def run_models(args: argparse.Namespace) -> int:
    if args.backend:
        from sdstudio.bridge.comfy.command import run_models as run_server_models

        return run_server_models(args.backend)
    from sdstudio.engine.discovery import discover_all_networks, discover_models

    models = discover_models()
    for info in [*models, *discover_all_networks()]:  # kind: diffusers/safetensors/ckpt, then lora/embedding/vae
        print(f"{info.name}\t{info.kind}\t{info.path}")
    if not models:
        print("no models found: put a .safetensors file or a diffusers folder in checkpoints/", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from sdstudio.io.images import read_parameters, read_parameters_text

    text = read_parameters_text(args.image)
    if text is None:
        print(f"sdstudio: {args.image} carries no generation parameters", file=sys.stderr)
        return 1
    print(text)
    parsed = read_parameters(args.image)
    if parsed is not None and parsed.unreadable:  # shown above as the file has them; they restore nothing
        print(f"sdstudio: unreadable in this image: {', '.join(parsed.unreadable)}", file=sys.stderr)
    if parsed is not None and parsed.missing:  # what to download before this image can be made again here
        print(f"sdstudio: not installed here: {'; '.join(map(str, parsed.missing))}", file=sys.stderr)
    return 0
