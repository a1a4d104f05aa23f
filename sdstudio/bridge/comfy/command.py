"""The CLI over ComfyUI servers: `--backend URL` (or $SDSTUDIO_BACKEND) on generate, img2img,
inpaint and models. Several servers: URLs separated by commas; a token: $SDSTUDIO_BACKEND_TOKEN.

Same contract as the local CLI: every file path printed as it lands, bad input or an unreachable
server exits 2 with one line and writes nothing, Ctrl-C cancels our prompts on the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from pathlib import Path

from PIL import Image

from sdstudio.bridge.comfy.batch import BatchRun, ComfyImage
from sdstudio.bridge.comfy.cli_options import TOKEN_ENV, backend_urls
from sdstudio.bridge.comfy.connection import connect_all
from sdstudio.bridge.comfy.events import Preview
from sdstudio.bridge.comfy.results import save_result
from sdstudio.bridge.comfy.server_info import file_stem
from sdstudio.engine.requests import GenerationRequest


def run_models(value: str) -> int:
    """`name<TAB>kind<TAB>URL` for every server: its checkpoints (kind `comfyui`), then its LoRAs,
    embeddings and VAEs (`lora`, `embedding`, `vae`) by the names prompts and --vae take."""

    async def listing() -> list[tuple[str, str, str]]:
        connections = await connect_all(backend_urls(value), os.environ.get(TOKEN_ENV, ""))
        try:
            rows = []
            for connection in connections:
                info = connection.client.info
                rows += [(name, "comfyui", connection.url) for name in info.checkpoints]
                for kind, names in (("lora", info.loras), ("embedding", info.embeddings), ("vae", info.vaes)):
                    rows += [(file_stem(name), kind, connection.url) for name in names]
            return rows
        finally:
            for connection in connections:
                await connection.close()

    for name, kind, url in asyncio.run(listing()):
        print(f"{name}\t{kind}\t{url}")
    return 0


class _PreviewFiles:
    """Every preview the server sends, as step_NNN.png at the image size (image_N/ in a batch)."""

    def __init__(self, folder: Path, request: GenerationRequest) -> None:
        self.folder, self.request = folder, request
        self.steps: dict[int, int] = {}

    def __call__(self, index: int, preview: Preview) -> None:
        from sdstudio.io.atomic import atomic_path

        step = self.steps[index] = self.steps.get(index, 0) + 1
        with Image.open(io.BytesIO(preview.data)) as shown:
            image = shown.convert("RGB").resize((self.request.width, self.request.height), Image.Resampling.BILINEAR)
        target = self.folder if self.request.batch_count == 1 else self.folder / f"image_{index + 1}"
        target.mkdir(parents=True, exist_ok=True)
        with atomic_path(target / f"step_{step:03d}.png") as temp:
            image.save(temp, format="PNG")


def _check_outputs(args: argparse.Namespace, outputs: Path) -> None:
    from sdstudio.io.writable import check_output_file, check_output_folder

    if args.out is not None:
        check_output_file(args.out)
    else:
        check_output_folder(outputs, "the output folder (SDSTUDIO_OUTPUT_DIR)")
    if args.previews is not None:
        check_output_folder(args.previews, "--previews")


def run_generation(args: argparse.Namespace, request: GenerationRequest, outputs: Path) -> int:
    """One request on the servers of `args.backend`; each image saved and printed in batch order."""
    _check_outputs(args, outputs)
    live = sys.stderr.isatty()

    def on_step(index: int, step: int, total: int) -> None:
        if live:
            print(f"\rimage {index + 1}: step {step}/{total}\033[K", end="", file=sys.stderr)

    def on_image(image: ComfyImage) -> None:
        path, _ = save_result(image.image, image.request, image.checkpoint, image.graph, outputs, args.out,
                              numbered=request.batch_count > 1)
        if live:
            print("\r\033[K", end="", file=sys.stderr)
        print(path, flush=True)

    async def generate() -> None:
        connections = await connect_all(backend_urls(args.backend), os.environ.get(TOKEN_ENV, ""))
        try:
            previews = _PreviewFiles(args.previews, request) if args.previews is not None else None
            await BatchRun(connections, request, on_step, previews, on_image).run()
        finally:
            for connection in connections:
                await connection.close()

    asyncio.run(generate())
    return 0
