"""A server's image -> our result: inputs sized as our engine sizes them, inpaint paste-back, and
the file in our outputs folder with our A1111 `parameters` plus the workflow as a `prompt` chunk
(so ComfyUI opens the file as the graph that made it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

from sdstudio.engine.paste_back import paste_back
from sdstudio.engine.requests import GenerationRequest, Mode
from sdstudio.io.images import save_new_image, save_output
from sdstudio.io.metadata import format_parameters


def sized_image(request: GenerationRequest) -> Image.Image:
    """The init image at the request's size (Lanczos), as the local engine uses it."""
    assert request.init_image is not None
    image = request.init_image.convert("RGB")
    size = (request.width, request.height)
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)


def sized_mask(request: GenerationRequest) -> Image.Image:
    assert request.mask_image is not None
    mask = request.mask_image.convert("L")
    size = (request.width, request.height)
    return mask if mask.size == size else mask.resize(size, Image.Resampling.BILINEAR)


def finished_image(request: GenerationRequest, image: Image.Image) -> Image.Image:
    """The server's image as our engine would give it: inpaint results keep every unpainted pixel."""
    image = image.convert("RGB")
    if request.mode is Mode.INPAINT:
        return paste_back(sized_image(request), image, sized_mask(request), request.mask_feather)
    return image


def save_result(image: Image.Image, request: GenerationRequest, checkpoint: str, graph: dict[str, Any],
                folder: Path, path: Path | None = None, numbered: bool = False) -> tuple[Path, str]:
    """Write one image under a name claimed atomically (`path`, numbered x-1.png... in a batch,
    else the next NNNNN-SEED.png of `folder`; never replacing a file); where it went and its
    parameters text."""
    parameters = format_parameters(request, checkpoint)
    chunks = {"prompt": json.dumps(graph)}
    if path is not None:
        return save_new_image(image, path, parameters, numbered=numbered, png_text=chunks), parameters
    return save_output(image, folder, request.seed, parameters, png_text=chunks), parameters
