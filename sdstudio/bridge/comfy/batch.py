"""A request's images spread over the connected servers, results handed back in batch order.

Each image is its own graph (seed, seed+1, ...). Every server runs two workers that take the next
image as they free up, so one image runs while the next waits in that server's queue and a fast
server does more of the batch. A server that drops out hands its image back to the others; the
batch fails only when no server is left. Images are released in order: image 2 waits for image 1.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from sdstudio.bridge.comfy.connection import ComfyConnection
from sdstudio.bridge.comfy.errors import ConnectionLost, ServerUnreachable
from sdstudio.bridge.comfy.events import Preview
from sdstudio.bridge.comfy.results import finished_image, sized_image, sized_mask
from sdstudio.bridge.comfy.samplers import comfy_sampler
from sdstudio.bridge.comfy.server_info import file_stem
from sdstudio.bridge.comfy.workflow import (
    Uploads,
    generation_graph,
    is_inpainting_checkpoint,
    sampler_steps,
    server_files,
)
from sdstudio.engine.requests import GenerationRequest, Mode
from sdstudio.errors import InputError

WORKERS_PER_SERVER = 2


@dataclass(frozen=True)
class ComfyImage:
    """One finished image of a batch (paste-back applied), with the graph that made it."""

    index: int
    image: Image.Image = field(repr=False)
    request: GenerationRequest = field(repr=False)  # this image's own seed, batch_count 1
    checkpoint: str
    graph: dict[str, Any] = field(repr=False)
    server: str
    elapsed: float  # seconds from the batch's start


StepListener = Callable[[int, int, int], None]  # image index, step, total
PreviewListener = Callable[[int, Preview], None]
ImageListener = Callable[[ComfyImage], None]


def find_checkpoint(name: str, checkpoints: tuple[str, ...], server: str) -> str:
    """The server's checkpoint for `name` (exact, or without folder/extension); "" = its first."""
    if not checkpoints:
        raise InputError(f"the ComfyUI server at {server} has no checkpoints (put one in its models/checkpoints)")
    if not name:
        return checkpoints[0]
    for candidate in checkpoints:
        if name in (candidate, file_stem(candidate)):
            return candidate
    raise InputError(f"unknown checkpoint '{name}' on the ComfyUI server at {server}; "
                     f"choose one of: {', '.join(checkpoints)}")


def usable(connections: list[ComfyConnection], checkpoint: str) -> list[ComfyConnection]:
    return [connection for connection in connections if checkpoint in connection.client.info.checkpoints]


async def _uploads(connection: ComfyConnection, request: GenerationRequest, job: str) -> Uploads:
    if request.mode is Mode.TXT2IMG:
        return Uploads()
    image = await connection.client.upload_image(sized_image(request), f"sdstudio-{job}-image.png")
    mask = None
    if request.mode is Mode.INPAINT:
        mask = await connection.client.upload_image(sized_mask(request).convert("RGB"), f"sdstudio-{job}-mask.png")
    return Uploads(image, mask)


class BatchRun:
    """One request over several servers; `await run()` returns the images in batch order."""

    def __init__(self, connections: list[ComfyConnection], request: GenerationRequest,
                 on_step: StepListener | None = None, on_preview: PreviewListener | None = None,
                 on_image: ImageListener | None = None) -> None:
        if not connections:
            raise InputError("no ComfyUI server is connected")
        self.request = request.validated()
        first = connections[0]
        self.checkpoint = find_checkpoint(request.model, first.client.info.checkpoints, first.url)
        self.connections = usable(connections, self.checkpoint)
        for connection in self.connections:  # every server must be able to run it, or say so now
            info = connection.client.info
            comfy_sampler(self.request.sampler, info.samplers, info.schedulers, connection.url)
            server_files(self.request, info, connection.url)
        self.on_step, self.on_preview, self.on_image = on_step, on_preview, on_image
        self.job = uuid.uuid4().hex[:12]
        self._pending: deque[int] = deque(range(self.request.batch_count))
        self._done: dict[int, ComfyImage] = {}
        self._released: list[ComfyImage] = []
        self._uploads: dict[str, asyncio.Task] = {}
        self._started = 0.0

    async def run(self) -> list[ComfyImage]:
        self._started = time.perf_counter()
        lost: dict[str, Exception] = {}
        try:
            async with asyncio.TaskGroup() as group:
                for connection in self.connections:
                    for _ in range(WORKERS_PER_SERVER):
                        group.create_task(self._worker(connection, lost))
        except BaseExceptionGroup as errors:
            raise _first_leaf(errors) from None
        if len(self._released) < self.request.batch_count:
            raise next(reversed(lost.values()), None) or ConnectionLost("no ComfyUI server was left for the batch")
        return self._released

    async def _worker(self, connection: ComfyConnection, lost: dict[str, Exception]) -> None:
        while self._pending and connection.url not in lost:
            index = self._pending.popleft()
            try:
                self._done[index] = await self._one(connection, index)
            except (ConnectionLost, ServerUnreachable) as error:
                self._pending.appendleft(index)  # another server takes it
                lost[connection.url] = error
                return
            self._release()

    async def _one(self, connection: ComfyConnection, index: int) -> ComfyImage:
        request = self.request.with_seed(self.request.seed + index)
        info = connection.client.info
        if connection.url not in self._uploads:  # once per server, shared by its workers
            self._uploads[connection.url] = asyncio.ensure_future(_uploads(connection, request, self.job))
        uploads = await asyncio.shield(self._uploads[connection.url])
        inpaint_model = is_inpainting_checkpoint(self.checkpoint) and info.has_inpaint_conditioning
        sampler = comfy_sampler(request.sampler, info.samplers, info.schedulers, connection.url)
        files = server_files(request, info, connection.url)
        graph = generation_graph(request, self.checkpoint, sampler, uploads, inpaint_model, files)
        passes = sampler_steps(graph)
        all_steps = sum(steps for _, steps in passes.values())

        def on_progress(step: int, total: int, node: str | None) -> None:
            before, _ = passes.get(node or "", (0, total))
            if self.on_step is not None:
                self.on_step(index, before + step, all_steps if node in passes else total)

        images = await connection.run_prompt(
            graph, on_progress=on_progress,
            on_preview=None if self.on_preview is None else lambda preview: self.on_preview(index, preview),
        )
        return ComfyImage(index, finished_image(request, images[0]), request, self.checkpoint, graph,
                          connection.url, time.perf_counter() - self._started)

    def _release(self) -> None:
        """Hand on every finished image whose predecessors are out, in batch order."""
        while len(self._released) in self._done:
            image = self._done.pop(len(self._released))
            self._released.append(image)
            if self.on_image is not None:
                self.on_image(image)


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
