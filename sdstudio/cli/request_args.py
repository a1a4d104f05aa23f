"""CLI flags -> the request dataclass (the one source of truth for generation parameters)."""

from __future__ import annotations

import argparse

from sdstudio.cli.studio_options import with_studio_options
from sdstudio.engine.requests import GenerationRequest


def request_from_args(
    args: argparse.Namespace, default_size: tuple[int, int], init_image=None, mask_image=None
) -> GenerationRequest:
    """CLI flags -> the request dataclass (the one source of truth), validated.

    A missing --width/--height is the input image's size (rounded down to a multiple of 8) for
    img2img/inpaint, else `default_size` (the model's native size)."""
    if init_image is not None:
        default_size = (init_image.width - init_image.width % 8, init_image.height - init_image.height % 8)
    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        model=args.model,
        sampler=args.sampler,
        steps=args.steps,
        cfg_scale=args.cfg,
        seed=args.seed,
        width=default_size[0] if args.width is None else args.width,  # `or` would turn --width 0 into the default
        height=default_size[1] if args.height is None else args.height,
        batch_count=args.batch,
        strength=getattr(args, "strength", 0.75),
        init_image=init_image,
        mask_image=mask_image,
        mask_feather=getattr(args, "feather", 8),
    )
    return with_studio_options(args, request).validated()
