"""Nothing finished is lost, a failed load keeps the model, long jobs warn, cancel is instant."""

import threading

import numpy as np
import pytest

from sdstudio.engine.engine import Engine
from sdstudio.engine.job_clock import duration_text
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import Cancelled, ModelError
from tests.tiny_models import loaded_model


def request(**changes) -> GenerationRequest:
    base = dict(prompt="a cat face", sampler="Euler a", steps=3, cfg_scale=6.0, seed=42, width=64, height=64)
    return GenerationRequest(**{**base, **changes})


def test_each_image_reaches_on_image_before_the_next_starts(sd_engine):
    log = []
    result = sd_engine.generate(
        request(batch_count=3),
        on_step=lambda e: log.append(("step", e.image_index, e.step)),
        on_image=lambda g: log.append(("image", g.seed)),
    )
    steps = [("step", i, s) for i in range(3) for s in (1, 2, 3)]
    assert log == steps[:3] + [("image", 42)] + steps[3:6] + [("image", 43)] + steps[6:] + [("image", 44)]
    assert [g.seed for g in result.images] == [42, 43, 44]


def test_cancel_after_two_images_keeps_those_two(sd_engine):
    cancel, finished = threading.Event(), []

    def on_image(generated):
        finished.append(generated)
        if len(finished) == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        sd_engine.generate(request(batch_count=5), cancel=cancel, on_image=on_image)
    assert [g.seed for g in finished] == [42, 43]
    assert all(np.asarray(g.image).std() > 0 for g in finished)


def corrupt_checkpoint(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x00not a safetensors file" * 10)
    return path


def test_a_failed_load_keeps_the_model_loaded_from_disk(tiny_model_dir, tmp_path):
    engine = Engine()
    first = engine.load(str(tiny_model_dir))
    with pytest.raises(ModelError):
        engine.load(str(corrupt_checkpoint(tmp_path)))
    assert engine.model is not None and engine.model.name == first.name
    result = engine.generate(request())  # no model named: the current one, not the built-in
    assert result.images[0].model_name == first.name


def test_a_failed_load_keeps_a_model_given_in_memory(sd_pipe, tmp_path):
    engine = Engine()
    model = loaded_model(sd_pipe, name="in-memory")
    engine.use(model)
    with pytest.raises(ModelError):
        engine.load(str(corrupt_checkpoint(tmp_path)))
    assert engine.model is model
    assert engine.generate(request()).images[0].model_name == "in-memory"


def test_step_events_estimate_the_time_left_and_a_long_job_warns_once(sd_engine):
    events = []
    sd_engine.generate(request(batch_count=2, steps=4), on_step=events.append)
    assert [e.step for e in events] == [1, 2, 3, 4] * 2
    assert all(e.remaining is not None and e.remaining >= 0 for e in events)
    assert events[-1].remaining == 0
    assert all(e.warning == "" for e in events)  # a second-long job: no warning

    sd_engine.long_job_seconds = 0.0  # every job is "very long" now
    events.clear()
    sd_engine.generate(request(steps=4), on_step=events.append)
    warnings = [e.warning for e in events if e.warning]
    # this engine has timed the model already, so the warning comes before the first step
    assert events[0].step == 0 and events[0].preview is None and events[0].warning
    assert len(warnings) == 1 and "this job will take at least" in warnings[0] and "cpu" in warnings[0]
    assert [e.step for e in events[1:]] == [1, 2, 3, 4]


def test_the_first_job_warns_from_its_first_step(sd_engine):
    sd_engine.long_job_seconds = 0.0
    events = []
    sd_engine.generate(request(steps=3), on_step=events.append)
    assert [e.step for e in events] == [1, 2, 3]
    assert events[0].warning.startswith("this job will take about ") and not events[1].warning


def test_cancel_inside_a_step_stops_before_the_rest_of_the_unet(sd_engine):
    unet = sd_engine.model.unet
    cancel, up_calls = threading.Event(), []
    mid = unet.mid_block.register_forward_hook(lambda *_: cancel.set())  # the user cancels mid-step
    up = unet.up_blocks[0].resnets[0].register_forward_hook(lambda *_: up_calls.append(1))
    try:
        with pytest.raises(Cancelled):
            sd_engine.generate(request(steps=5), cancel=cancel)
    finally:
        mid.remove()
        up.remove()
    assert up_calls == []  # the first step never reached the decoder half of the UNet
    assert not unet._forward_pre_hooks and all(not m._forward_pre_hooks for m in unet.modules())
    assert sd_engine.generate(request(steps=2)).images[0].image.size == (64, 64)  # still usable


@pytest.mark.parametrize(("seconds", "text"), [(12, "12 s"), (600, "10 min"), (3 * 3600 + 1200, "3 h 20 min")])
def test_durations_read_as_a_person_says_them(seconds, text):
    assert duration_text(seconds) == text
