"""A real local backend (engine thread) for the exploration tabs, over the tiny random model; always stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdstudio.bridge.local.backend import LocalBackend
from sdstudio.engine.requests import GenerationRequest


@pytest.fixture
def output_dir(tmp_path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def worker(qtbot, shared_engine, output_dir):
    """The local backend the tabs submit to (named for what it stands for: the engine thread)."""
    backend = LocalBackend(output_dir=lambda: output_dir, engine_factory=lambda: shared_engine)
    yield backend
    assert backend.close(60.0), "the engine thread did not stop"
    assert not backend.running


@pytest.fixture
def base_request(tiny_model_dir) -> GenerationRequest:
    return GenerationRequest(prompt="a cat", model=str(tiny_model_dir), width=64, height=64, steps=4, sampler="Euler",
                             seed=3, cfg_scale=5.0)


@pytest.fixture
def request_provider(base_request):
    return lambda: base_request
