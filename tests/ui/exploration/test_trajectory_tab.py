"""The trajectory scrubber: every step of a kept run can be seen, and branching from a step with
nothing changed gives the same image while a new prompt gives another; both are saved."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import sdstudio.bridge.local.exploration as exploration_jobs
from sdstudio.io.images import read_parameters
from sdstudio.ui.exploration.trajectory_tab import TrajectoryTab
from tests.ui.exploration.helpers import pixels

TIMEOUT = 60000


@pytest.fixture
def tab(qtbot, worker, request_provider):
    widget = TrajectoryTab(worker, request_provider=request_provider)
    qtbot.addWidget(widget)
    return widget


def ran(qtbot, tab: TrajectoryTab, start) -> None:
    with qtbot.waitSignal(tab.image_saved, timeout=TIMEOUT):
        start()
    assert not tab.running


def test_scrubbing_shows_every_step_and_ends_on_the_image(qtbot, tab, base_request, output_dir):
    ran(qtbot, tab, tab.run_button.click)
    current = tab.current
    steps = base_request.steps
    assert tab.slider.minimum() == 1 and tab.slider.maximum() == steps == len(current.steps)
    assert tab.last_shown == (current.trajectory_id, steps, "full")
    assert np.array_equal(pixels(tab.view.image()), pixels(current.image))
    shown = []
    for step in range(1, steps + 1):
        tab.slider.setValue(step)
        assert tab.step_label.text().startswith(f"step {step}/{steps}")
        shown.append(pixels(tab.view.image()))
    assert len({frame.tobytes() for frame in shown}) == steps  # each step looks different
    assert current.path.parent == output_dir and read_parameters(current.path).seed == base_request.seed
    assert not tab.branch_button.isEnabled()  # at the last step there is nothing to branch


def test_branch_unchanged_reproduces_and_a_new_prompt_differs(qtbot, tab, output_dir):
    ran(qtbot, tab, tab.run_trajectory)
    original = tab.current
    tab.set_step(2)
    assert tab.branch_button.isEnabled()
    ran(qtbot, tab, tab.branch_button.click)
    same = tab.current
    assert same.parent_id == original.trajectory_id and same.branch_step == 2
    assert np.array_equal(pixels(same.image), pixels(original.image))
    assert tab.runs.count() == 2 and "branch of #" in tab.runs.currentText()

    tab.runs.setCurrentIndex(0)
    tab.set_step(2)
    tab.prompt.setText("a red rocket")
    ran(qtbot, tab, tab.branch_from_here)
    changed = tab.current
    assert changed.request.prompt == "a red rocket"
    assert not np.array_equal(pixels(changed.image), pixels(original.image))
    assert read_parameters(changed.path).prompt == "a red rocket"
    assert len(list(output_dir.glob("*.png"))) == 3


def test_a_new_seed_branch_differs(qtbot, tab):
    ran(qtbot, tab, tab.run_trajectory)
    original = tab.current
    tab.set_step(1)
    tab.seed.setText("99")
    ran(qtbot, tab, tab.branch_from_here)
    assert tab.current.request.seed == 99
    assert not np.array_equal(pixels(tab.current.image), pixels(original.image))


def test_cheap_step_previews_are_decoded_fully_when_the_scrub_rests(qtbot, tab, monkeypatch):
    monkeypatch.setattr(exploration_jobs, "FULL_PREVIEW_SECONDS", -1.0)  # as with a big model
    ran(qtbot, tab, tab.run_trajectory)
    assert tab.current.preview_quality == "cheap"
    tab.slider.setValue(2)
    assert tab.last_shown[1:] == (2, "cheap") and tab.view.image().width() == 32
    qtbot.waitUntil(lambda: tab.last_shown[1:] == (2, "full"), timeout=TIMEOUT)
    assert tab.view.image().width() == 64 and "x0 estimate" in tab.step_label.text()


def test_cancel_stops_a_run(qtbot, tab, worker, base_request):
    job = tab.run_trajectory(replace(base_request, steps=400))
    with qtbot.waitSignal(job.progress, timeout=TIMEOUT):
        pass
    with qtbot.waitSignal(job.ended, timeout=TIMEOUT):
        tab.cancel_button.click()
    assert job.state.value == "cancelled"
    assert not tab.running and tab.current is None and tab.status.text() == "Cancelled."
    assert tab.run_button.isEnabled()
