"""The CLI options SD users bring from A1111: --lora, --clip-skip, --vae, hires fix, and outpaint's --extend.

Each flag maps onto the request (the one source of truth): `--lora NAME[:WEIGHT]` appends the same
`<lora:NAME:WEIGHT>` tag a user would type into the prompt, so the saved image's prompt carries it
and restoring the image restores the LoRA. Names are checked here, before any model loads, so a
typo exits 2 at once with one line; whether a file fits the model is the engine's check, made
before the first step.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from sdstudio.engine.requests import GenerationRequest, HiresFix, Upscaler
from sdstudio.errors import InputError

HIRES_FLAGS = ("hires_scale", "hires_steps", "hires_denoise", "hires_upscaler", "hires_prompt", "hires_negative")


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """--lora (repeatable), --clip-skip, --vae: for every command that generates."""
    parser.add_argument("--lora", action="append", default=[], metavar="NAME[:WEIGHT]",
                        help="apply a LoRA (see `sdstudio models`), as <lora:NAME:WEIGHT> in the prompt; repeatable")
    parser.add_argument("--clip-skip", type=int, default=1, metavar="N",
                        help="1 = CLIP's last layer (default), 2 = the penultimate one, as A1111")
    parser.add_argument("--vae", default="", metavar="NAME|PATH",
                        help="a VAE file to decode with instead of the model's")


def add_hires_options(parser: argparse.ArgumentParser) -> None:
    """Hires fix for text to image: any --hires-* flag turns it on (A1111's defaults for the rest)."""
    parser.add_argument("--hires-scale", type=float, default=None, metavar="F", help="hires fix: upscale by F (1-4)")
    parser.add_argument("--hires-steps", type=int, default=None, metavar="N",
                        help="hires fix: steps of the second pass (0 = as many as --steps)")
    parser.add_argument("--hires-denoise", type=float, default=None, metavar="F",
                        help="hires fix: how much the second pass changes, 0-1 (default 0.5)")
    parser.add_argument("--hires-upscaler", choices=[u.value for u in Upscaler], default=None,
                        help="hires fix: latent (bicubic, default) or lanczos (in pixels)")
    parser.add_argument("--hires-prompt", default=None, metavar="TEXT",
                        help="hires fix: the second pass's prompt (A1111's Hires prompt; default: the prompt)")
    parser.add_argument("--hires-negative", default=None, metavar="TEXT",
                        help="hires fix: the second pass's negative prompt (default: the negative prompt)")


def lora_tag(option: str) -> str:
    """`NAME[:WEIGHT]` -> `<lora:NAME:WEIGHT>`, the name checked against the LoRA folders."""
    name, _, weight = option.strip().rpartition(":") if ":" in option else (option.strip(), "", "1")
    name = name.strip()
    try:
        value = float(weight)
    except ValueError:
        raise InputError(f"--lora '{option}': the weight after ':' must be a number, as in --lora {name}:0.8") from None
    if not name or any(char in name for char in "<>"):
        raise InputError(f"--lora '{option}' needs a LoRA name, as in --lora detail:0.8")
    from sdstudio.engine.discovery import resolve_network

    try:
        info = resolve_network("lora", name)  # InputError naming the folders when it is not there
    except RuntimeError:  # a path like ~nobody/x.safetensors: no such home folder
        raise InputError(f"--lora '{option}': no LoRA file or name '{name}'") from None
    return f"<lora:{info.name}:{value:g}>"


def _hires(args: argparse.Namespace) -> HiresFix | None:
    stated = {flag: getattr(args, flag, None) for flag in HIRES_FLAGS}
    if all(value is None for value in stated.values()):
        return None
    defaults = HiresFix()
    return HiresFix(
        scale=defaults.scale if stated["hires_scale"] is None else stated["hires_scale"],
        steps=defaults.steps if stated["hires_steps"] is None else stated["hires_steps"],
        denoise=defaults.denoise if stated["hires_denoise"] is None else stated["hires_denoise"],
        upscaler=Upscaler(stated["hires_upscaler"] or defaults.upscaler),
        prompt=stated["hires_prompt"] or "",
        negative_prompt=stated["hires_negative"] or "",
    )


def with_studio_options(args: argparse.Namespace, request: GenerationRequest) -> GenerationRequest:
    """`request` with the flags' LoRA tags, clip skip, VAE and hires fix; unknown names refused."""
    tags = [lora_tag(option) for option in getattr(args, "lora", [])]
    prompt = " ".join([request.prompt, *tags]) if tags else request.prompt
    vae = getattr(args, "vae", "") or ""
    if vae and not getattr(args, "backend", ""):  # a server's VAE is found on the server (before it runs)
        from sdstudio.engine.vae_files import resolve_vae

        resolve_vae(vae)
    clip_skip = getattr(args, "clip_skip", 1)
    if clip_skip < 1:
        raise InputError(f"--clip-skip must be 1 or more, not {clip_skip}")
    return replace(request, prompt=prompt, clip_skip=clip_skip, vae=vae, hires=_hires(args))


def add_outpaint_command(commands, add_generation_options, handler) -> None:
    """`sdstudio outpaint PROMPT --image PATH --extend L,T,R,B [the generation options]`."""
    outpaint = commands.add_parser("outpaint", help="extend a picture past its borders")
    add_generation_options(outpaint)
    outpaint.set_defaults(handler=handler)
    outpaint.add_argument("--image", type=Path, required=True)
    outpaint.add_argument("--extend", required=True, metavar="L,T,R,B",
                          help="pixels to add on the left, top, right and bottom (multiples of 8)")
    outpaint.add_argument("--strength", type=float, default=None,
                          help="0..1: below 1 the new area starts from the picture's edge colours (default 0.9)")
    outpaint.add_argument("--feather", type=int, default=8, help="pixels of soft edge at the seam")


def run_outpaint(args: argparse.Namespace) -> int:
    """Extend the canvas, then the ordinary inpaint path (which pastes the original back)."""
    import secrets

    from sdstudio.cli.commands import _generate
    from sdstudio.engine.outpaint import DEFAULT_STRENGTH, Extension, extend_canvas
    from sdstudio.io.images import load_image

    extension = Extension.parse(args.extend)
    if args.width or args.height:
        raise InputError("outpaint keeps the picture's size and adds --extend around it; drop --width/--height")
    if args.strength is None:
        args.strength = DEFAULT_STRENGTH
    if args.seed is None:
        args.seed = secrets.randbelow(2**32)
    canvas, mask = extend_canvas(load_image(args.image), extension, seed=args.seed)
    return _generate(args, init_image=canvas, mask_image=mask)
