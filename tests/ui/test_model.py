"""The generation model: the one place the UI builds a request, and the inverse when restoring."""

from __future__ import annotations

import json

from PIL import Image

from sdstudio.engine.requests import GenerationRequest, HiresFix, Upscaler
from sdstudio.ui.model import GenerationModel, feather_for
from sdstudio.ui.settings import SettingsStore


def _model(**values) -> GenerationModel:
    model = GenerationModel()
    for key, value in values.items():
        setattr(model, key, value)
    return model


def test_the_request_is_what_the_controls_built_before(qtbot):
    """The fields the old `ControlsPanel.request_template` set, with the same values; new fields at
    their request defaults until the user changes them. The one intended difference: the mask
    feather follows the size (8 px only from 512 up)."""
    model = _model(prompt="  a red fox  ", negative_prompt=" blur ", model="/models/tiny", sampler="Euler",
                   steps=12, cfg_scale=6.5, strength=0.4, seed=1234, batch_count=3)
    model.set_size(640, 384)
    expected = GenerationRequest(prompt="a red fox", negative_prompt="blur", model="/models/tiny", sampler="Euler",
                                 steps=12, cfg_scale=6.5, seed=1234, width=640, height=384, batch_count=3,
                                 strength=0.4, mask_feather=6)
    assert model.request() == expected
    assert model.request().validated() == expected


def test_the_request_carries_clip_skip_vae_and_hires(qtbot):
    model = _model(clip_skip=2, vae="/vaes/ft-mse.safetensors", hires_enabled=True, hires_scale=1.5,
                   hires_steps=8, hires_denoise=0.35, hires_upscaler="lanczos")
    request = model.request()
    assert request.clip_skip == 2 and request.vae == "/vaes/ft-mse.safetensors"
    assert request.hires == HiresFix(scale=1.5, steps=8, denoise=0.35, upscaler=Upscaler.LANCZOS)
    model.hires_enabled = False
    assert model.request().hires is None


def test_an_init_image_sets_the_size_and_turns_hires_off(qtbot):
    model = _model(hires_enabled=True)
    image, mask = Image.new("RGB", (64, 48)), Image.new("L", (64, 48))
    request = model.request(init_image=image, mask=mask)
    assert (request.width, request.height) == (64, 48) and request.hires is None
    assert request.init_image is image and request.mask_image is mask
    assert request.validated().mode.value == "inpaint"  # a valid request: hires would be refused


def test_the_mask_feather_scales_with_the_image(qtbot):
    assert feather_for(512, 512) == 8 and feather_for(1024, 768) == 8
    assert feather_for(64, 64) == 1 and feather_for(256, 320) == 4
    small = GenerationModel().request(init_image=Image.new("RGB", (64, 64)), mask=Image.new("L", (64, 64)))
    assert small.mask_feather == 1


def test_an_unlocked_seed_changes_for_every_job_a_locked_one_stays(qtbot):
    model = _model(seed=5)
    seeds = {model.next_seed() for _ in range(4)}
    assert len(seeds) == 4 and model.seed in seeds  # shown as it is drawn
    model.seed_locked, model.seed = True, 777344673
    assert model.next_seed() == 777344673 and model.request().seed == 777344673


def test_restoring_an_image_shows_its_seed_but_keeps_the_lock(qtbot):
    model = _model(seed_locked=False, model="/models/mine", vae="/vaes/mine")
    past = GenerationRequest(prompt="old", negative_prompt="bad", sampler="DDIM", steps=9, cfg_scale=3.5, seed=2**40,
                             width=64, height=64, strength=0.3, clip_skip=2,
                             hires=HiresFix(scale=2.0, steps=4, denoise=0.6, upscaler=Upscaler.LANCZOS))
    model.apply_request(past)
    assert (model.prompt, model.negative_prompt, model.sampler, model.steps) == ("old", "bad", "DDIM", 9)
    assert (model.cfg_scale, model.strength, model.seed, model.clip_skip) == (3.5, 0.3, 2**40, 2)
    assert model.size == (64, 64) and not model.size_follows_model
    assert model.hires == past.hires
    assert model.seed_locked is False and model.model == "/models/mine" and model.vae == "/vaes/mine"
    assert model.next_seed() != 2**40  # Generate makes a new image


def test_restoring_clamps_to_what_the_controls_offer(qtbot):
    model = GenerationModel()
    model.apply_request(GenerationRequest(prompt="", steps=900, cfg_scale=80.0, seed=-3, sampler="Nonexistent"))
    assert (model.steps, model.cfg_scale, model.seed, model.sampler) == (150, 30.0, 0, "Euler a")
    assert model.hires is None


def test_restoring_a_non_multiple_of_8_keeps_the_size(qtbot):
    model = GenerationModel()
    model.set_size(512, 512, follows_model=True)
    model.apply_request(GenerationRequest(prompt="", width=100, height=60))
    assert model.size == (512, 512) and model.size_follows_model


def test_the_model_persists_in_the_old_settings_keys(qtbot, tmp_path):
    """A settings file written before the model existed still loads: same flat keys."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"prompt": "kept", "negative_prompt": "n", "steps": 33, "cfg_scale": 9, "width": 768,
                                "height": 512, "size_follows_model": False, "seed": 9, "seed_locked": True,
                                "batch_count": 2, "sampler": "DDIM", "brush_size": 32, "output_dir": "/tmp/o"}))
    store = SettingsStore(path)
    model = store.attach(GenerationModel())
    assert (model.prompt, model.negative_prompt, model.steps, model.cfg_scale) == ("kept", "n", 33, 9.0)
    assert model.size == (768, 512) and not model.size_follows_model and model.batch_count == 2
    assert model.sampler == "DDIM" and model.seed == 9
    # The old file's lock was switched on by gallery clicks, and 32 px was the fixed brush default.
    assert model.seed_locked is False and store.settings.brush_size == 0
    assert store.settings.output_dir == "/tmp/o"

    model.hires_enabled, model.seed_locked = True, True
    store.save()
    saved = json.loads(path.read_text())
    assert saved["version"] == 2 and saved["hires_enabled"] is True and saved["prompt"] == "kept"
    again = SettingsStore(path).attach(GenerationModel())
    assert again.seed_locked is True and again.hires_enabled  # a version-2 lock is the user's own
