"""`ComfyBackend`: one or more ComfyUI servers behind the `Backend` protocol.

Runs on the asyncio loop of the thread that made it (qasync's in the app, asyncio.run in the CLI
and tests); nothing here blocks. Each submitted generation is one task over a `BatchRun`: images
spread over the servers, each saved into our outputs folder the moment its turn in the batch comes,
then announced on its handle. Cancel goes through the handle: the task is cancelled, which
interrupts our running prompts and deletes our queued ones on every server; other jobs go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from sdstudio.bridge.comfy.batch import BatchRun, ComfyImage, find_checkpoint
from sdstudio.bridge.comfy.connection import ComfyConnection, ConnectionState, ServerStatus, connect_all
from sdstudio.bridge.comfy.events import Preview
from sdstudio.bridge.comfy.results import save_result
from sdstudio.bridge.comfy.samplers import available_samplers
from sdstudio.bridge.comfy.server_info import file_stem
from sdstudio.bridge.handle import JobHandle
from sdstudio.bridge.jobs import GenerateJob, LoadJob
from sdstudio.bridge.messages import JobResult, ModelLoaded, PreviewFrame, SavedImage
from sdstudio.bridge.protocol import Capabilities, Capability, ModelEntry
from sdstudio.bridge.qimage import pil_to_qimage
from sdstudio.errors import Cancelled, SdStudioError

COMFY_CAPABILITIES = frozenset({Capability.TXT2IMG, Capability.IMG2IMG, Capability.INPAINT, Capability.PREVIEWS,
                                Capability.CLIP_SKIP, Capability.HIRES, Capability.LORA, Capability.EMBEDDINGS,
                                Capability.VAE})
WHY_NOT = {
    Capability.LATENT_BLEND: "latent blending runs on this computer's engine, not on a ComfyUI server",
    Capability.WALK: "walk export runs on this computer's engine, not on a ComfyUI server",
    Capability.TRAJECTORY: "a ComfyUI server does not send per-step latents back (only previews)",
    Capability.MODEL_FOLDERS: "the models are the server's checkpoints (its models/checkpoints folder)",
}


class ComfyBackend(QObject):
    name = "ComfyUI server"

    status_changed = Signal(str)
    model_loading = Signal(object)  # LoadEvent (the server loads models itself: never emitted)
    model_ready = Signal(str, str)  # name, device
    models_changed = Signal()

    def __init__(self, connections: list[ComfyConnection], output_dir: Callable[[], Path],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.connections = connections
        self.output_dir = output_dir
        self._tasks: dict[JobHandle, asyncio.Task] = {}
        self._states: dict[str, ConnectionState] = {}
        for connection in connections:
            connection.status_listeners.append(self._on_status)

    @classmethod
    async def connect(cls, urls: list[str], output_dir: Callable[[], Path], token: str = "",
                      parent: QObject | None = None) -> ComfyBackend:
        return cls(await connect_all(urls, token), output_dir, parent)

    # --- Backend -------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(COMFY_CAPABILITIES, WHY_NOT)

    def models(self) -> list[ModelEntry]:
        """Every server's checkpoints, by name (a name on several servers is listed once, first URL)."""
        entries: dict[str, ModelEntry] = {}
        for connection in self.connections:
            for name in connection.client.info.checkpoints:
                entries.setdefault(name, ModelEntry(name, "comfyui", connection.url))
        return list(entries.values())

    def samplers(self) -> tuple[str, ...]:
        """Our sampler names that every connected server can run."""
        names: tuple[str, ...] | None = None
        for connection in self.connections:
            info = connection.client.info
            offered = available_samplers(info.samplers, info.schedulers)
            names = offered if names is None else tuple(name for name in names if name in offered)
        return names or ()

    def networks(self, kind: str) -> list[str]:
        """The servers' LoRAs, embeddings or VAEs by file name (how prompts and requests name them)."""
        field = {"lora": "loras", "embedding": "embeddings", "vae": "vaes"}[kind]
        names = (file_stem(name) for connection in self.connections for name in getattr(connection.client.info, field))
        return sorted(set(names), key=str.lower)

    async def network_metadata(self, kind: str, name: str) -> dict[str, str]:
        """What a server's LoRA or embedding file says of itself (kohya's ss_* keys, modelspec.*),
        from the first server that has it; {} when none says anything."""
        field, folder = {"lora": ("loras", "loras"), "embedding": ("embeddings", "embeddings")}[kind]
        for connection in self.connections:
            for candidate in getattr(connection.client.info, field):
                if file_stem(candidate) == name:
                    filename = candidate if kind == "lora" else f"{candidate}.safetensors"
                    with contextlib.suppress(SdStudioError):
                        return await connection.client.file_metadata(folder, filename)
        return {}

    def refresh(self) -> None:
        """Re-read every server's files in the background; `models_changed` when done."""
        async def reread() -> None:
            for connection in self.connections:
                with contextlib.suppress(SdStudioError):  # an unreachable one keeps its last list
                    await connection.client.refresh()
            self.models_changed.emit()

        self._refreshing = asyncio.get_event_loop().create_task(reread())  # kept: tasks are held weakly

    def submit(self, job: Any, parent: QObject | None = None) -> JobHandle:
        """Start `job`; a refusal is reported on the next turn of the loop, once the caller has
        connected to the handle (a signal emitted inside submit() would reach nobody)."""
        handle = JobHandle(job, parent)
        loop = asyncio.get_event_loop()
        if isinstance(job, LoadJob):
            loop.call_soon(self._load, handle, job)
            return handle
        if not isinstance(job, GenerateJob):
            loop.call_soon(handle.report_failed, f"{job.describe()} is not available on the ComfyUI backend")
            return handle
        lead = _Lead()
        try:
            batch = BatchRun(self.connections, job.request, on_step=self._stepper(handle, job.request, lead),
                             on_preview=self._previewer(handle, job.request, lead))
        except SdStudioError as error:
            loop.call_soon(handle.report_failed, str(error))
            return handle
        task = asyncio.get_event_loop().create_task(self._run(handle, batch))
        self._tasks[handle] = task
        handle.set_cancel_hook(self._on_cancel)
        return handle

    def close(self, timeout: float = 2.0) -> bool:
        """Cancel every job and close the connections (in the background: this must not block)."""
        for handle in list(self._tasks):
            handle.cancel()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing left to close on
            self._closing = asyncio.get_event_loop().create_task(self.aclose())  # kept: tasks are held weakly
        return True

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for connection in self.connections:
            await connection.close()

    # --- one job ---------------------------------------------------------------------------------

    def _load(self, handle: JobHandle, job: LoadJob) -> None:
        """The server loads its models itself, on first use: a load job only checks the name."""
        first = self.connections[0]
        try:
            name = find_checkpoint(job.model, first.client.info.checkpoints, first.url)
        except SdStudioError as error:
            handle.report_failed(str(error))
            return
        handle.report_done(ModelLoaded(handle.job_id, name, first.client.stats.summary))
        self.model_ready.emit(name, first.client.stats.summary)

    async def _run(self, handle: JobHandle, batch: BatchRun) -> None:
        started = time.perf_counter()
        saved: list[SavedImage] = []
        batch.on_image = lambda image: saved.append(self._save(handle, image))
        try:
            await batch.run()
        except asyncio.CancelledError:
            handle.report_cancelled()
        except Cancelled:
            handle.report_cancelled()
        except SdStudioError as error:
            handle.report_failed(str(error))
        else:
            device = ", ".join(connection.client.stats.summary for connection in batch.connections)
            handle.report_done(JobResult(handle.job_id, saved, time.perf_counter() - started, device,
                                         batch.checkpoint))
        finally:
            self._tasks.pop(handle, None)

    def _save(self, handle: JobHandle, image: ComfyImage) -> SavedImage:
        """On disk first, then announced: a result the gallery shows is already a file."""
        path, parameters = save_result(image.image, image.request, image.checkpoint, image.graph, self.output_dir())
        saved = SavedImage(path, pil_to_qimage(image.image), image.request, parameters, image.request.seed,
                           image.elapsed)
        handle.report_saved(saved)
        return saved

    def _stepper(self, handle: JobHandle, request, lead: _Lead) -> Callable[[int, int, int], None]:
        """Per-image steps, as the local engine reports them, for the lowest image still running:
        with several servers, images run side by side, and the bar follows them in batch order."""
        started = time.perf_counter()

        def on_step(index: int, step: int, total: int) -> None:
            if not lead.steps:
                handle.report_started()
            if lead.update(index, step, total):
                handle.report_progress(step, total, time.perf_counter() - started)

        return on_step

    def _previewer(self, handle: JobHandle, request, lead: _Lead) -> Callable[[int, Preview], None]:
        started = time.perf_counter()

        def on_preview(index: int, preview: Preview) -> None:
            if index != lead.index:
                return  # another server's image: the canvas shows the batch in order
            image = QImage.fromData(preview.data, preview.format)
            frame = PreviewFrame(handle.job_id, index, lead.steps.get(index, 0), lead.total or request.steps,
                                 time.perf_counter() - started, None if image.isNull() else image)
            handle.report_preview(frame)

        return on_preview

    def _on_cancel(self, handle: JobHandle) -> None:
        task = self._tasks.get(handle)
        if task is not None:
            task.cancel()

    def _on_status(self, status: ServerStatus) -> None:
        was = self._states.get(status.url)
        self._states[status.url] = status.state
        back = status.state is ConnectionState.CONNECTED and was is ConnectionState.RECONNECTING
        if back:  # the connection re-read the server's files: the pickers list them anew
            self.models_changed.emit()
        self.status_changed.emit(f"ComfyUI {status.url.split('://', 1)[-1]}: {status.state.value}, "
                                 f"{status.device}, queue {status.queue_remaining}")


class _Lead:
    """Which image of a batch the progress bar and the canvas follow: the lowest one unfinished."""

    def __init__(self) -> None:
        self.index = 0
        self.total = 0  # steps per image (both passes of a hires fix)
        self.steps: dict[int, int] = {}

    def update(self, index: int, step: int, total: int) -> bool:
        """Record a step; True when it is the followed image's (then move on past finished ones)."""
        self.steps[index], self.total = step, total
        followed = index == self.index
        while self.steps.get(self.index, 0) >= total:
            self.index += 1
        return followed
