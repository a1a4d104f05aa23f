"""Hires fix as a user meets it: the final size, one progress run over both passes, the same
conditioning and model for both, and clear errors for values that make no sense."""

import threading

import numpy as np
import pytest

from sdstudio.engine.requests import GenerationRequest, HiresFix, Upscaler
from sdstudio.errors import Cancelled, InputError


def request(**changes) -> GenerationRequest:
    base = dict(prompt="a cat face", sampler="Euler a", steps=6, cfg_scale=6.0, seed=42, width=64, height=48)
    return GenerationRequest(**{**base, **changes})


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.mark.parametrize("upscaler", [Upscaler.LATENT, Upscaler.LANCZOS])
def test_final_image_is_base_size_times_scale_in_multiples_of_8(sd_engine, upscaler):
    result = sd_engine.generate(request(hires=HiresFix(scale=1.5, steps=4, denoise=0.5, upscaler=upscaler)))
    assert result.images[0].image.size == (96, 72)
    odd = sd_engine.generate(request(hires=HiresFix(scale=1.3, steps=2, denoise=0.5, upscaler=upscaler)))
    assert odd.images[0].image.size == (80, 56)  # 83.2 x 62.4, floored to multiples of 8 as A1111 does


def test_both_passes_report_as_one_rising_run_of_steps_with_previews(sd_engine):
    events = []
    sd_engine.generate(request(steps=6, hires=HiresFix(scale=2.0, steps=8, denoise=0.5)), on_step=events.append)
    # base: 6 steps; hires: the last half of 8 steps = 4, as A1111's img2img runs
    assert [e.step for e in events] == list(range(1, 11))
    assert {e.total_steps for e in events} == {10}
    assert [e.preview.size for e in events[:6]] == [(32, 24)] * 6  # latent size of the base pass
    assert [e.preview.size for e in events[6:]] == [(64, 48)] * 4  # latent size of the hires pass


def test_hires_steps_zero_means_the_base_step_count(sd_engine):
    events = []
    sd_engine.generate(request(steps=6, hires=HiresFix(scale=1.5, steps=0, denoise=0.5)), on_step=events.append)
    assert events[-1].step == events[-1].total_steps == 6 + 3


def test_same_request_same_pixels_and_the_second_pass_changes_the_image(sd_engine):
    hires = HiresFix(scale=2.0, steps=4, denoise=0.6, upscaler=Upscaler.LANCZOS)
    first = sd_engine.generate(request(hires=hires)).images[0]
    again = sd_engine.generate(request(hires=hires)).images[0]
    assert np.array_equal(pixels(first.image), pixels(again.image))
    plain = sd_engine.generate(request()).images[0].image.resize((128, 96))
    assert np.abs(pixels(first.image) - pixels(plain)).mean() > 1
    assert first.request.hires == hires  # the saved request says how it was made


def test_hires_job_encodes_the_prompt_once_and_runs_only_the_two_passes(sd_engine):
    """No second text encoding, no extra UNet work: the steps of a txt2img job plus an img2img job."""
    encoder_calls, unet_calls = [], []
    model = sd_engine.model
    hooks = [model.text_encoders[0].register_forward_hook(lambda *_: encoder_calls.append(1)),
             model.unet.register_forward_hook(lambda *_: unet_calls.append(1))]
    try:
        sd_engine.generate(request(prompt="a dog", steps=6))
        plain_encodes, plain_steps = len(encoder_calls), len(unet_calls)
        encoder_calls.clear(), unet_calls.clear()
        sd_engine.generate(request(prompt="a fox", steps=6, hires=HiresFix(scale=1.5, steps=8, denoise=0.5)))
    finally:
        for hook in hooks:
            hook.remove()
    assert plain_encodes > 0 and len(encoder_calls) == plain_encodes  # a new prompt: encoded once, as for txt2img
    assert plain_steps == 6 and len(unet_calls) == 6 + 4


def test_cancel_during_the_hires_pass_stops_the_job(sd_engine):
    cancel = threading.Event()
    seen = []

    def on_step(event):
        seen.append(event.step)
        if event.step == 7:
            cancel.set()

    with pytest.raises(Cancelled):
        sd_engine.generate(request(steps=6, hires=HiresFix(steps=8)), on_step=on_step, cancel=cancel)
    assert seen == [1, 2, 3, 4, 5, 6, 7]


def test_sdxl_hires_fix(sdxl_engine):
    result = sdxl_engine.generate(request(hires=HiresFix(scale=1.5, steps=2, denoise=0.5)))
    assert result.images[0].image.size == (96, 72)


@pytest.mark.parametrize(
    ("hires", "message"),
    [
        (HiresFix(scale=0.5), "hires scale must be between 1 and 4, not 0.5"),
        (HiresFix(scale=5), "hires scale must be between 1 and 4, not 5"),
        (HiresFix(steps=-1), "hires steps must be between 0"),
        (HiresFix(denoise=0), r"hires denoise must be in \(0, 1\], not 0"),
        (HiresFix(denoise=1.5), r"hires denoise must be in \(0, 1\], not 1.5"),
        (HiresFix(upscaler="ESRGAN"), "unknown hires upscaler 'ESRGAN'; choose latent or lanczos"),
    ],
)
def test_bad_hires_values_are_refused_with_what_to_fix(hires, message):
    with pytest.raises(InputError, match=message):
        request(hires=hires).validated()


def test_hires_upscaler_names_are_accepted_as_text_and_too_large_sizes_refused():
    assert request(hires=HiresFix(upscaler="Lanczos")).validated().hires.upscaler is Upscaler.LANCZOS
    with pytest.raises(InputError, match="hires size 8192x8192 is too large"):
        request(width=2048, height=2048, hires=HiresFix(scale=4)).validated()


def test_hires_fix_with_an_input_image_says_it_is_for_text_to_image():
    from PIL import Image

    with pytest.raises(InputError, match="hires fix is for text to image"):
        request(init_image=Image.new("RGB", (64, 48)), hires=HiresFix()).validated()


def test_a_hires_image_states_base_size_and_hires_settings_and_restores_to_the_same_pixels(sd_engine):
    from sdstudio.io.metadata import format_parameters, parse_parameters

    hires = HiresFix(scale=1.5, steps=4, denoise=0.5, upscaler=Upscaler.LANCZOS)
    made = sd_engine.generate(request(sampler="DPM++ 2M", hires=hires)).images[0]
    text = format_parameters(made.request, made.model_name)
    assert ("Size: 64x48, Model: tiny, Denoising strength: 0.5, Hires upscale: 1.5, Hires steps: 4, "
            "Hires upscaler: Lanczos") in text
    restored = parse_parameters(text).apply_to(GenerationRequest(""))
    again = sd_engine.generate(restored).images[0].image
    assert again.size == (96, 72)
    assert np.array_equal(pixels(again), pixels(made.image))
