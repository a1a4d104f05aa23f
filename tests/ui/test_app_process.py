"""The real app in a process of its own (`tests.ui.app_driver`): it is painted before torch is
imported and then says that the model loads; closing it ends the process quickly, idle or in the
middle of a generation, and an image finished before the close is on disk.

The bounds are generous (a loaded 2-core CI); `benchmarks/cold_start.py` prints the exact times.
Before the fix the process lived 2-3 s after an idle close (the interpreter tearing down torch
and diffusers) and as long as a whole model load when closed while loading.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.ui.app_driver import first, launch

IDLE_QUIT_BOUND_S = 1.0
GENERATING_QUIT_BOUND_S = 2.0
LAUNCH_TIMEOUT_S = 600


@pytest.fixture
def app_env(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    """A fresh settings folder on the tiny model, with steps enough that a generation is running."""
    config = tmp_path / "config"
    config.mkdir()
    settings = {"model": str(tiny_model_dir), "model_paths": [str(tiny_model_dir)], "steps": 400, "width": 64,
                "height": 64, "size_follows_model": False, "sampler": "Euler"}
    (config / "settings.json").write_text(json.dumps(settings))
    return {"QT_QPA_PLATFORM": "offscreen", "SDSTUDIO_CONFIG_DIR": str(config),
            "SDSTUDIO_OUTPUT_DIR": str(tmp_path / "outputs"), "SDSTUDIO_MODEL_DIRS": ""}


def quit_time(events: list[dict], ended: float) -> float:
    closed = first(events, "close")
    assert closed is not None, events
    return ended - closed["t"]


def test_the_window_is_painted_before_torch_is_imported_then_says_the_model_loads(app_env) -> None:
    events, _, _, code = launch("first-paint", app_env, LAUNCH_TIMEOUT_S)
    assert code == 0, events
    painted = first(events, "first-paint")
    assert painted is not None and not painted["torch_imported"] and not painted["diffusers_imported"]
    loading = [e for e in events if e["event"] == "status" and e["text"].startswith("Loading model tiny-sd")]
    assert loading and loading[0]["t"] >= painted["t"]


def test_quitting_when_idle_ends_the_process_within_a_second(app_env) -> None:
    events, _, ended, code = launch("quit-idle", app_env, LAUNCH_TIMEOUT_S)
    assert code == 0, events
    assert quit_time(events, ended) < IDLE_QUIT_BOUND_S


def test_quitting_during_a_generation_ends_the_process_within_two_seconds(app_env) -> None:
    events, _, ended, code = launch("quit-generating", app_env, LAUNCH_TIMEOUT_S)
    assert code == 0, events
    assert first(events, "step") is not None
    assert quit_time(events, ended) < GENERATING_QUIT_BOUND_S


def test_an_image_finished_before_the_close_is_kept(app_env, tmp_path: Path) -> None:
    settings_file = Path(app_env["SDSTUDIO_CONFIG_DIR"]) / "settings.json"
    settings = json.loads(settings_file.read_text())
    settings.update(steps=3, batch_count=3)
    settings_file.write_text(json.dumps(settings))
    events, _, ended, code = launch("quit-after-image", app_env, LAUNCH_TIMEOUT_S)
    assert code == 0, events
    saved = first(events, "saved")
    assert saved is not None
    with Image.open(saved["path"]) as image:
        assert image.size == (64, 64)
    leftovers = [p.name for p in (tmp_path / "outputs").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert quit_time(events, ended) < GENERATING_QUIT_BOUND_S
