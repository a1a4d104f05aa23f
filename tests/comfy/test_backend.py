"""`ComfyBackend` behind the Backend protocol: what the app and the CLI see of a ComfyUI server."""

from __future__ import annotations

import asyncio

import pytest

from sdstudio.bridge.comfy.backend import ComfyBackend
from sdstudio.bridge.handle import JobFailed
from sdstudio.bridge.jobs import GenerateJob, WalkJob
from sdstudio.bridge.messages import JobState
from sdstudio.bridge.protocol import Backend, Capability
from sdstudio.errors import Cancelled
from sdstudio.io.images import read_parameters
from tests.comfy.helpers import run, small_request


def test_backend_generates_saves_and_reports(qapp, comfy_server, checkpoint_name, tmp_path):
    async def generate():
        backend = await ComfyBackend.connect([comfy_server.url], lambda: tmp_path)
        try:
            assert isinstance(backend, Backend)
            handle = backend.submit(GenerateJob(small_request(seed=300, batch_count=2)))
            previews, progress, saved, states = [], [], [], []
            handle.preview.connect(previews.append)
            handle.progress.connect(progress.append)
            handle.image_saved.connect(lambda image: saved.append(image.path.is_file()))
            handle.state_changed.connect(states.append)
            result = await handle.result()
            return backend, result, previews, progress, saved, states
        finally:
            await backend.aclose()

    backend, result, previews, progress, saved, states = run(generate())
    assert [image.seed for image in result.images] == [300, 301]
    assert saved == [True, True]  # each file existed when it was announced
    assert result.model == checkpoint_name
    assert [(p.step, p.total) for p in progress] == [(s, 4) for s in (1, 2, 3, 4)] * 2  # per image, as locally
    assert previews and all(frame.image is not None and not frame.image.isNull() for frame in previews)
    assert states == [JobState.RUNNING, JobState.DONE]
    parsed = read_parameters(result.images[1].path)
    assert parsed is not None and (parsed.seed, parsed.model) == (301, checkpoint_name)

    assert [(entry.name, entry.kind, entry.location) for entry in backend.models()] == [
        (checkpoint_name, "comfyui", comfy_server.url)]
    assert "Euler a" in backend.samplers() and "PNDM" not in backend.samplers()
    capabilities = backend.capabilities
    assert capabilities.has(Capability.INPAINT) and capabilities.has(Capability.PREVIEWS)
    assert "per-step latents" in capabilities.reason(Capability.TRAJECTORY)


def test_cancel_one_job_leaves_the_next(qapp, comfy_server, tmp_path):
    async def cancel_first():
        backend = await ComfyBackend.connect([comfy_server.url], lambda: tmp_path)
        try:
            first = backend.submit(GenerateJob(small_request(steps=400, seed=310)))
            second = backend.submit(GenerateJob(small_request(seed=311)))
            started = asyncio.Event()
            first.progress.connect(lambda progress: started.set())
            await started.wait()
            first.cancel()
            with pytest.raises(Cancelled):
                await first.result()
            return first.state, await second.result()
        finally:
            await backend.aclose()

    state, second = run(cancel_first())
    assert state is JobState.CANCELLED
    assert [image.seed for image in second.images] == [311]


def test_what_the_server_cannot_do_fails_in_one_line(qapp, comfy_server, tmp_path):
    async def refused():
        backend = await ComfyBackend.connect([comfy_server.url], lambda: tmp_path)
        try:
            unknown = backend.submit(GenerateJob(small_request(model="nope")))
            walk = backend.submit(WalkJob())
            return [await _error(handle) for handle in (unknown, walk)]
        finally:
            await backend.aclose()

    unknown, walk = run(refused())
    assert unknown.startswith("unknown checkpoint 'nope' on the ComfyUI server at ")
    assert walk == "latent walk, 16 frames is not available on the ComfyUI backend"
    assert not list(tmp_path.iterdir())


async def _error(handle) -> str:
    with pytest.raises(JobFailed) as failed:
        await handle.result()
    return str(failed.value)
