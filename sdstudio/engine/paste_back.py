"""Paste-back after inpainting: the original pixels outside a feathered mask, exactly.

Pure PIL + numpy (no torch), so that a remote backend's inpaint results get the same guarantee as
the local engine's: every pixel the user did not paint stays bit-identical to the input.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def feathered_mask(mask: Image.Image, feather: int) -> Image.Image:
    """The mask blurred outward by `feather` pixels; 0 where the original is kept exactly."""
    mask = mask.convert("L")
    if feather <= 0:
        return mask
    # Grow first so that the blur softens outward, never eating into the painted region.
    grown = mask.filter(ImageFilter.MaxFilter(2 * (feather // 2) + 1))
    return Image.fromarray(
        np.maximum(np.asarray(grown.filter(ImageFilter.GaussianBlur(feather / 2))), np.asarray(mask))
    )


def paste_back(original: Image.Image, generated: Image.Image, mask: Image.Image, feather: int) -> Image.Image:
    """Generated pixels inside the feathered mask, original pixels (exactly) outside it."""
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), feathered_mask(mask, feather))
