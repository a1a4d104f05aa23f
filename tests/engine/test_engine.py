"""The engine as a user of the CLI or the app meets it: events, modes, seeds, cancel, errors."""

import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sdstudio.engine.engine import Engine
from sdstudio.engine.requests import GenerationRequest, Mode
from sdstudio.errors import Cancelled, InputError
from tests.tiny_models import loaded_model


def request(**changes) -> GenerationRequest:
    base = dict(prompt="a cat face", sampler="Euler a", steps=5, cfg_scale=6.0, seed=42, width=64, height=64)
    return GenerationRequest(**{**base, **changes})


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_every_step_sends_an_event_with_a_preview(sd_engine):
    events = []
    result = sd_engine.generate(request(steps=7), on_step=events.append)
    assert [e.step for e in events] == list(range(1, 8))
    assert all(e.total_steps == 7 and e.image_index == 0 for e in events)
    assert all(e.preview is not None and e.preview.size == (32, 32) for e in events)  # latent size
    assert [e.elapsed for e in events] == sorted(e.elapsed for e in events)
    # Previews show the denoised estimate, so they change as the image forms.
    assert np.abs(pixels(events[0].preview) - pixels(events[-1].preview)).max() > 0
    assert result.images[0].image.size == (64, 64)


def test_previews_can_be_switched_off(sd_engine):
    events = []
    sd_engine.generate(request(previews=False), on_step=events.append)
    assert len(events) == 5 and all(e.preview is None for e in events)


def test_same_request_gives_same_pixels_and_batches_use_consecutive_seeds(sd_engine):
    first = sd_engine.generate(request(seed=10)).images[0].image
    batch = sd_engine.generate(request(seed=9, batch_count=3)).images
    assert [g.seed for g in batch] == [9, 10, 11]
    assert np.array_equal(pixels(batch[1].image), pixels(first))
    assert np.abs(pixels(batch[0].image) - pixels(batch[1].image)).max() > 0
    assert batch[1].request.seed == 10 and batch[1].request.batch_count == 1


def test_cancel_between_steps_stops_the_job_and_engine_stays_usable(sd_engine):
    cancel = threading.Event()
    seen = []

    def on_step(event):
        seen.append(event.step)
        if event.step == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        sd_engine.generate(request(steps=10), on_step=on_step, cancel=cancel)
    assert seen == [1, 2]
    assert sd_engine.generate(request(steps=2)).images[0].image.size == (64, 64)


def test_an_error_leaves_the_engine_ready_for_the_next_job(sd_engine):
    with pytest.raises(InputError, match="multiple of 8"):
        sd_engine.generate(request(width=65))
    with pytest.raises(InputError, match="unknown sampler"):
        sd_engine.generate(request(sampler="Magic"))

    def explode(event):
        raise RuntimeError("listener failed")

    with pytest.raises(RuntimeError):
        sd_engine.generate(request(), on_step=explode)
    assert sd_engine.generate(request(steps=2)).images[0].image.size == (64, 64)


@pytest.mark.parametrize("sampler", ["Euler", "Euler a", "Heun", "LMS", "DPM++ 2M", "DPM++ 2M Karras",
                                     "DPM++ 2M SDE", "DPM++ 2M SDE Karras", "DDIM", "PNDM", "UniPC", "LCM"])
def test_every_sampler_makes_an_image(sd_engine, sampler):
    events = []
    image = sd_engine.generate(request(sampler=sampler, steps=4), on_step=events.append).images[0].image
    assert image.size == (64, 64) and pixels(image).std() > 0
    assert events[-1].step == events[-1].total_steps


def gradient_image(size=(64, 64)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    red, green = np.tile(x, (size[1], 1)), np.tile(x[::-1], (size[1], 1))
    array = np.stack([red, green, np.full((size[1], size[0]), 90, np.uint8)], -1)
    return Image.fromarray(array)


def test_img2img_strength_controls_how_far_the_result_moves(sd_engine):
    init = gradient_image()
    # The tiny VAE is random (its decoder maps most latents to similar pixels), so measure in
    # latent space: the final latent of a low-strength job stays near the input's latent.
    init_latent = sd_engine.encode_image(init)
    low = sd_engine.generate(request(init_image=init, strength=0.2, steps=10, keep_trajectory=True))
    high = sd_engine.generate(request(init_image=init, strength=1.0, steps=10, keep_trajectory=True))
    assert low.images[0].request.mode is Mode.IMG2IMG
    distance_low = float((low.images[0].trajectory[-1] - init_latent).norm())
    distance_high = float((high.images[0].trajectory[-1] - init_latent).norm())
    assert distance_low < distance_high


def test_img2img_low_strength_runs_only_the_last_steps(sd_engine):
    events = []
    sd_engine.generate(request(init_image=gradient_image(), strength=0.3, steps=10), on_step=events.append)
    assert len(events) == 3 and events[-1].total_steps == 3


def test_img2img_resizes_an_init_image_of_another_size(sd_engine):
    result = sd_engine.generate(request(init_image=gradient_image((100, 70)), strength=0.5))
    assert result.images[0].image.size == (64, 64)


def square_mask(size=(64, 64), box=(16, 16, 40, 40)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def assert_outside_mask_unchanged(result_image, init, mask, feather):
    from sdstudio.engine.inpaint import feathered_mask

    outside = np.asarray(feathered_mask(mask, feather)) == 0
    assert outside.sum() > 1000
    assert np.array_equal(pixels(result_image)[outside], pixels(init)[outside])


def test_inpaint_with_a_normal_model_changes_only_the_mask(sd_engine):
    init, mask = gradient_image(), square_mask()
    result = sd_engine.generate(request(init_image=init, mask_image=mask, strength=1.0, mask_feather=4))
    image = result.images[0].image
    assert result.images[0].request.mode is Mode.INPAINT
    assert_outside_mask_unchanged(image, init, mask, 4)
    inside = np.asarray(mask) == 255
    assert np.abs(pixels(image)[inside] - pixels(init)[inside]).mean() > 5


def test_inpaint_with_a_9_channel_inpainting_model(inpainting_pipe):
    engine = Engine()
    engine.use(loaded_model(inpainting_pipe, name="tiny-inpainting"))
    assert engine.model.is_inpainting
    init, mask = gradient_image(), square_mask()
    events = []
    job = request(init_image=init, mask_image=mask, strength=1.0, mask_feather=0)
    image = engine.generate(job, on_step=events.append)
    assert len(events) == 5
    assert_outside_mask_unchanged(image.images[0].image, init, mask, 0)
    with pytest.raises(InputError, match="inpainting model"):
        engine.generate(request())


def test_sdxl_model_generates_and_zeroes_an_empty_negative_prompt(sdxl_engine):
    cond = sdxl_engine.conditioning("a rocket", "")
    assert cond.pooled is not None and float(cond.negative.abs().sum()) == 0.0
    image = sdxl_engine.generate(request(steps=3, sampler="DPM++ 2M Karras")).images[0].image
    assert image.size == (64, 64)


def test_keep_trajectory_returns_a_latent_per_step(sd_engine):
    result = sd_engine.generate(request(steps=4, keep_trajectory=True))
    trajectory = result.images[0].trajectory
    assert len(trajectory) == 4 and tuple(trajectory[0].shape) == (1, 4, 32, 32)
