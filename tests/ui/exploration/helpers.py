"""Images and pixel checks the exploration UI tests share."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from sdstudio.bridge.qimage import pil_to_qimage
from tests.exploration_helpers import animation_frames, pixels, reconstruction

__all__ = ["animation_frames", "flat_image", "noise_image", "pixels", "reconstruction"]


def noise_image(seed: int = 0, size: tuple[int, int] = (64, 64)) -> QImage:
    rng = np.random.default_rng(seed)
    return pil_to_qimage(Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)))


def flat_image(color: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> QImage:
    return pil_to_qimage(Image.new("RGB", size, color))
