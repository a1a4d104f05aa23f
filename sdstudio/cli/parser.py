"""The argument parser of `sdstudio COMMAND`: every command's options, each leaf bound to its handler.

Parsing imports nothing heavy: handlers import torch/diffusers inside themselves, so `--help`,
`models` and `info` stay fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from sdstudio.bridge.comfy.cli_options import add_backend_option
from sdstudio.cli import commands as handlers
from sdstudio.cli.studio_options import add_hires_options, add_network_options, add_outpaint_command, run_outpaint
from sdstudio.engine.requests import SAMPLER_NAMES

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="what to draw")
    parser.add_argument("--negative", default="", help="what to avoid")
    parser.add_argument("--model", default="", help="model name (see `sdstudio models`) or path; default: built-in")
    parser.add_argument("--sampler", default="Euler a", help=f"one of: {', '.join(SAMPLER_NAMES)}")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=7.0, help="classifier-free guidance scale")
    parser.add_argument("--seed", type=int, default=None, help="random if omitted")
    parser.add_argument("--width", type=int, default=None, help="default: the model's size, or the input image's")
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--batch", type=int, default=1, help="number of images (seeds seed, seed+1, ...)")
    parser.add_argument(
        "--out", type=Path, default=None,
        help="output .png/.jpg/.webp (default: outputs/NNNNN-SEED.png); an existing file is kept: the image "
             "goes to NAME-1.png (NAME-2.png, ...) and the path used is printed",
    )
    parser.add_argument("--previews", type=Path, default=None, help="write every step's preview into this folder")
    add_network_options(parser)
    add_backend_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sdstudio", description="Stable Diffusion studio: run with no command for the app.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    generate = commands.add_parser("generate", help="text to image")
    _generation_options(generate)
    add_hires_options(generate)
    generate.set_defaults(handler=handlers.run_generate)

    img2img = commands.add_parser("img2img", help="image to image")
    _generation_options(img2img)
    img2img.set_defaults(handler=handlers.run_img2img)
    img2img.add_argument("--image", type=Path, required=True)
    img2img.add_argument("--strength", type=float, default=0.75, help="0..1: how much of the image is re-imagined")

    inpaint = commands.add_parser("inpaint", help="repaint the white part of a mask")
    _generation_options(inpaint)
    inpaint.set_defaults(handler=handlers.run_inpaint)
    inpaint.add_argument("--image", type=Path, required=True)
    inpaint.add_argument("--mask", type=Path, required=True, help="white = repaint, black = keep")
    inpaint.add_argument("--strength", type=float, default=1.0)
    inpaint.add_argument("--feather", type=int, default=8, help="pixels of soft edge when pasting back")

    add_outpaint_command(commands, _generation_options, run_outpaint)

    interpolate = commands.add_parser("interpolate", help="walk between two images' VAE latents")
    interpolate.set_defaults(handler=handlers.run_interpolate)
    interpolate.add_argument("--from", dest="source", type=Path, required=True)
    interpolate.add_argument("--to", dest="target", type=Path, required=True)
    interpolate.add_argument("--frames", type=int, default=16)
    interpolate.add_argument("--mode", choices=("slerp", "lerp"), default="slerp")
    interpolate.add_argument(
        "--pacing", choices=("even", "uniform"), default="even",
        help="even: frames re-timed so the picture moves at a steady pace (a probe pass first); "
             "uniform: equal steps in t",
    )
    interpolate.add_argument("--model", default="")
    interpolate.add_argument("--vae", default="", metavar="NAME|PATH",
                             help="a VAE file to encode and decode with instead of the model's")
    interpolate.add_argument("--width", type=int, default=None)
    interpolate.add_argument("--height", type=int, default=None)
    interpolate.add_argument("--fps", type=float, default=12.0)
    where = interpolate.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="an animation: .gif, .webp or .mp4 (an existing file is kept: "
                                                "NAME-1.gif is written instead)")
    where.add_argument("--out-dir", type=Path, help="a folder of PNG frames")

    models = commands.add_parser("models", help="list the models found: name, kind, path")
    models.set_defaults(handler=handlers.run_models)
    add_backend_option(models)
    info = commands.add_parser("info", help="print the generation parameters stored in an image")
    info.add_argument("image", type=Path)
    info.set_defaults(handler=handlers.run_info)

    try:
        from sdstudio.train.cli import register
    except ImportError:
        pass
    else:
        register(commands)
    return parser
