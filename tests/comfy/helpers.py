"""Shared by the ComfyUI tests: one event loop per test, small fast requests, image comparison."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import numpy as np
from PIL import Image

from sdstudio.engine.requests import GenerationRequest

TEST_TIMEOUT_S = 600.0


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = TEST_TIMEOUT_S) -> Any:
    """Run one test's async body in a fresh loop, failing (not hanging) past `timeout`."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def small_request(**changes: Any) -> GenerationRequest:
    """64x64 in 4 steps: about a second on the test model."""
    fields: dict[str, Any] = dict(prompt="a red apple", negative_prompt="blurry", sampler="Euler", steps=4,
                                  cfg_scale=7.0, seed=1234, width=64, height=64)
    return GenerationRequest(**(fields | changes))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def pattern_image(size: tuple[int, int] = (64, 64), shift: int = 0) -> Image.Image:
    """A deterministic colourful input image (gradients), different for each `shift`."""
    y, x = np.mgrid[0:size[1], 0:size[0]]
    rgb = np.stack([(x * 4 + shift) % 256, (y * 4) % 256, ((x + y) * 2 + 3 * shift) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))
