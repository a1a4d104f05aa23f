"""What each CLI command does, over the engine and sdstudio.io. Parsing lives in sdstudio.cli.parser."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import replace
from pathlib import Path

from sdstudio.cli.request_args import request_from_args
from sdstudio.engine.requests import GenerationRequest, LoadEvent, StepEvent
from sdstudio.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


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
        if self.live:
            line = f"image {event.image_index + 1}: step {event.step}/{event.total_steps}"
            print(f"\r{line}\033[K", end="", file=sys.stderr)

    def done(self) -> None:
        if self.live:
            print("\r\033[K", end="", file=sys.stderr)


def _check_out(path: Path | None) -> None:
    if path is not None and path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"cannot write '{path.name}': use a .png, .jpg or .webp file name")


def _targets(args: argparse.Namespace, request: GenerationRequest, count: int) -> list[Path | None]:
    """Where each image goes: --out (numbered when several), else the next outputs/NNNNN-SEED.png."""
    if args.out is None:
        return [None] * count
    if count == 1:
        return [args.out]
    return [args.out.with_name(f"{args.out.stem}-{i + 1}{args.out.suffix}") for i in range(count)]


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


def _generate(args: argparse.Namespace, init_image=None, mask_image=None) -> int:
    from sdstudio.engine.engine import Engine
    from sdstudio.io.images import next_output_path, save_image
    from sdstudio.io.metadata import format_parameters

    if args.seed is None:
        args.seed = secrets.randbelow(2**32)
    request = request_from_args(args, (512, 512), init_image, mask_image)  # validates before any loading
    if getattr(args, "backend", ""):  # ComfyUI servers do the work; no torch here
        from sdstudio.bridge.comfy.command import run_generation

        return run_generation(args, request, output_dir())
    _check_out(args.out)
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

    result = engine.generate(replace(request, previews=previews is not None), on_step=on_step)
    progress.done()
    for generated, target in zip(result.images, _targets(args, request, len(result.images)), strict=True):
        target = target or next_output_path(output_dir(), generated.seed)
        save_image(generated.image, target, format_parameters(generated.request, generated.model_name))
        print(target)
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
    from sdstudio.engine.engine import Engine
    from sdstudio.engine.interpolation import fit_size, interpolate_images
    from sdstudio.io.animation import check_animation_path, write_animation, write_frames
    from sdstudio.io.images import load_image

    if args.frames < 2:
        raise InputError(f"--frames must be at least 2, not {args.frames}")
    for side in (args.width, args.height):
        if side is not None and (side <= 0 or side % 8):
            raise InputError(f"size {side} is not a positive multiple of 8")
    if args.out is not None:
        check_animation_path(args.out)
    image_a, image_b = load_image(args.source), load_image(args.target)
    default_w, default_h = fit_size(image_a)
    size = (args.width or default_w, args.height or default_h)
    frames = interpolate_images(Engine(), image_a, image_b, args.frames, args.mode, args.model, size)
    if args.out is not None:
        print(write_animation(frames, args.out, fps=args.fps))
    else:
        print(write_frames(frames, args.out_dir)[0].parent)
    return 0


def run_models(args: argparse.Namespace) -> int:
    if args.backend:
        from sdstudio.bridge.comfy.command import run_models as run_server_models

        return run_server_models(args.backend)
    from sdstudio.engine.discovery import discover_models

    models = discover_models()
    for info in models:
        print(f"{info.name}\t{info.kind}\t{info.path}")
    if not models:
        print("no models found: put a .safetensors file or a diffusers folder in checkpoints/", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from sdstudio.io.images import read_parameters_text

    text = read_parameters_text(args.image)
    if text is None:
        print(f"sdstudio: {args.image} carries no generation parameters", file=sys.stderr)
        return 1
    print(text)
    return 0
