"""Outpainting: extend a picture past its borders by inpainting a larger canvas. Torch-free.

The new strips are filled with the image's edge colours, smeared outward and blurred, plus a
little seeded noise: a model (at strength < 1, or a 9-channel inpainting model reading the
surroundings) then continues the colours it sees instead of starting from flat grey. The
inpaint mask covers the new area plus a small overlap into the picture so the seam is
redrawn, not just butted against. After the inpaint, the engine pastes the canvas back outside
the feathered mask (`inpaint.paste_back`): every original pixel away from the seam is identical.

An outpaint is thus an ordinary inpaint request over the extended canvas (`outpaint_request`),
so every backend that can inpaint can outpaint, and the UI's "Extend canvas" preview shows the
same `extend_canvas` result the engine starts from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError

DEFAULT_OVERLAP = 16  # pixels of the original the mask also covers, so the seam is repainted
DEFAULT_STRENGTH = 0.9  # below 1 so a normal model starts from the edge-colour fill, not pure noise
FILL_NOISE = 24.0  # standard deviation (grey levels) of the noise on the fill


@dataclass(frozen=True)
class Extension:
    """Pixels to add on each side; each a multiple of 8 so the canvas stays one for the VAE."""

    left: int = 0
    top: int = 0
    right: int = 0
    bottom: int = 0

    @classmethod
    def parse(cls, text: str) -> Extension:
        """'L,T,R,B' (the CLI's --extend) -> an Extension, or InputError saying what to fix."""
        parts = [part.strip() for part in text.split(",")]
        try:
            values = [int(part) for part in parts]
        except ValueError:
            values = []
        if len(values) != 4:
            raise InputError(f"--extend '{text}' must be four whole numbers of pixels: LEFT,TOP,RIGHT,BOTTOM")
        return cls(*values).checked()

    def checked(self) -> Extension:
        for side, value in zip(("left", "top", "right", "bottom"), self.sides, strict=True):
            if value < 0 or value % 8:
                lower = max(0, value - value % 8)
                raise InputError(
                    f"extend {side} {value} is not a multiple of 8 (0 or more); try {lower} or {lower + 8}"
                )
        if not any(self.sides):
            raise InputError("extend by at least 8 pixels on one side (LEFT,TOP,RIGHT,BOTTOM)")
        return self

    @property
    def sides(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.right, self.bottom


def canvas_size(image_size: tuple[int, int], extension: Extension) -> tuple[int, int]:
    """The extended canvas, padded on the right/bottom to a multiple of 8 when the picture is not."""
    width = image_size[0] + extension.left + extension.right
    height = image_size[1] + extension.top + extension.bottom
    return width + (-width) % 8, height + (-height) % 8


def _placement(image_size: tuple[int, int], extension: Extension) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels of new area, the right/bottom including the padding."""
    width, height = canvas_size(image_size, extension)
    return extension.left, extension.top, width - image_size[0] - extension.left, height - image_size[1] - extension.top


def fill(image: Image.Image, extension: Extension, seed: int = 0) -> Image.Image:
    """The canvas: the picture in place, the new area its edge colours smeared out, blurred, and noised."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    left, top, right, bottom = _placement(image.size, extension)
    smeared = np.pad(rgb, ((top, bottom), (left, right), (0, 0)), mode="edge")
    radius = max(left, top, right, bottom) / 4
    blurred = np.asarray(
        Image.fromarray(smeared.round().astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32
    )
    noisy = blurred + np.random.default_rng(seed).normal(0.0, FILL_NOISE, blurred.shape)
    canvas = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))
    canvas.paste(image.convert("RGB"), (left, top))
    return canvas


def mask(image_size: tuple[int, int], extension: Extension, overlap: int = DEFAULT_OVERLAP) -> Image.Image:
    """White (repaint) over the new area and `overlap` pixels into each extended side of the picture."""
    left, top, right, bottom = _placement(image_size, extension)
    width, height = canvas_size(image_size, extension)
    array = np.full((height, width), 255, dtype=np.uint8)
    x0 = left + (overlap if left else 0)
    y0 = top + (overlap if top else 0)
    x1 = width - right - (overlap if right else 0)
    y1 = height - bottom - (overlap if bottom else 0)
    if x1 > x0 and y1 > y0:
        array[y0:y1, x0:x1] = 0
    return Image.fromarray(array, mode="L")


def extend_canvas(
    image: Image.Image, extension: Extension, seed: int = 0, overlap: int = DEFAULT_OVERLAP
) -> tuple[Image.Image, Image.Image]:
    """The canvas to inpaint and its mask (what the UI previews as the new area)."""
    extension = extension.checked()
    return fill(image, extension, seed), mask(image.size, extension, overlap)


def outpaint_request(
    request: GenerationRequest, image: Image.Image, extension: Extension, overlap: int = DEFAULT_OVERLAP
) -> GenerationRequest:
    """`request` (prompt, sampler, strength, ...) as an inpaint of the extended canvas, validated.

    Width and height become the canvas size: an outpaint never resizes the original."""
    canvas, canvas_mask = extend_canvas(image, extension, request.seed, overlap)
    return replace(
        request, init_image=canvas, mask_image=canvas_mask, width=canvas.width, height=canvas.height
    ).validated()
