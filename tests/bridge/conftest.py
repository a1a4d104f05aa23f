"""A real local backend (engine thread) over the tiny random model, on a qasync loop; always closed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import qasync

from sdstudio.engine.requests import GenerationRequest


@pytest.fixture(scope="session")
def shared_engine(tiny_model_dir):
    """One engine for the session (loading is the slow part); one backend thread uses it at a time."""
    from sdstudio.engine.engine import Engine

    engine = Engine()
    engine.load(str(tiny_model_dir))
    return engine


@pytest.fixture
def output_dir(tmp_path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def event_loop(qapp):
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    yield loop
    for task in asyncio.all_tasks(loop):
        task.cancel()
    qapp.processEvents()
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def backend(qtbot, shared_engine, output_dir):
    from sdstudio.bridge.local.backend import LocalBackend

    backend = LocalBackend(output_dir=lambda: output_dir, engine_factory=lambda: shared_engine)
    yield backend
    assert backend.close(60.0), "the engine thread did not stop"
    assert not backend.running


@pytest.fixture
def base_request(tiny_model_dir) -> GenerationRequest:
    return GenerationRequest(prompt="a cat", model=str(tiny_model_dir), width=64, height=64, steps=4, sampler="Euler",
                             seed=3, cfg_scale=5.0)
