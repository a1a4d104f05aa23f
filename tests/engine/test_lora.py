"""<lora:NAME:W> tags: the same pixels as diffusers' own LoRA loading, kept loaded across jobs, refused
clearly when the file is for another model family."""

import warnings

import numpy as np
import pytest

from sdstudio.engine.engine import Engine
from sdstudio.errors import InputError
from tests.engine.network_files import (
    diffusers_image,
    engine_image,
    kohya_lora,
    peft_lora,
    write_lora,
)
from tests.tiny_models import loaded_model, tiny_sd_pipeline, tiny_sdxl_pipeline


def load_into(pipe, path, name):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        pipe.load_lora_weights(str(path), adapter_name=name)


@pytest.mark.parametrize("layout", ["kohya", "peft"])
def test_lora_image_equals_diffusers_load_lora_weights(engine, folders, layout):
    loras, _ = folders
    make = kohya_lora if layout == "kohya" else peft_lora
    path = write_lora(loras, "ink", make(tiny_sd_pipeline(seed=0), seed=1))
    reference = tiny_sd_pipeline(seed=0)
    load_into(reference, path, "ink")
    ours = engine_image(engine, "a red apple <lora:ink:0.7>")
    theirs = diffusers_image(reference, "a red apple", cross_attention_kwargs={"scale": 0.7})
    assert np.abs(ours - theirs).max() <= 1
    assert np.abs(ours - engine_image(engine, "a red apple")).max() > 8  # the LoRA does change the picture


def test_weight_zero_and_no_tag_are_exactly_the_model(engine, folders):
    loras, _ = folders
    write_lora(loras, "ink", kohya_lora(tiny_sd_pipeline(seed=0), seed=1))
    before = engine_image(engine, "a red apple")
    assert np.array_equal(engine_image(engine, "a red apple <lora:ink:0>"), before)
    engine_image(engine, "a red apple <lora:ink:1>")
    assert np.array_equal(engine_image(engine, "a red apple"), before)  # the next job without it


def test_several_loras_and_split_te_unet_weights_match_diffusers(engine, folders):
    loras, _ = folders
    a = write_lora(loras, "ink", kohya_lora(tiny_sd_pipeline(seed=0), seed=1))
    b = write_lora(loras, "paper", peft_lora(tiny_sd_pipeline(seed=0), seed=2))
    reference = tiny_sd_pipeline(seed=0)
    load_into(reference, a, "ink")
    load_into(reference, b, "paper")
    reference.set_adapters(["ink", "paper"], [{"unet": 0.2, "text_encoder": 0.9}, 0.5])
    ours = engine_image(engine, "a red apple <lora:ink:0.9:0.2> <lora:paper:0.5>")
    assert np.abs(ours - diffusers_image(reference, "a red apple")).max() <= 1


def test_text_encoder_part_follows_the_te_weight(engine, folders):
    loras, _ = folders
    write_lora(loras, "ink", kohya_lora(tiny_sd_pipeline(seed=0), seed=1))
    plain = engine.conditioning("a red apple", "")
    assert np.array_equal(engine.conditioning("a red apple <lora:ink:0:1>", "").prompt, plain.prompt)
    assert not np.array_equal(engine.conditioning("a red apple <lora:ink:1:0>", "").prompt, plain.prompt)


def test_switching_loras_keeps_the_model_and_the_loaded_adapters(engine, folders, monkeypatch):
    loras, _ = folders
    write_lora(loras, "ink", kohya_lora(tiny_sd_pipeline(seed=0), seed=1))
    write_lora(loras, "paper", kohya_lora(tiny_sd_pipeline(seed=0), seed=2))
    unet = engine.model.unet
    first = engine_image(engine, "a red apple <lora:ink:1>")
    engine_image(engine, "a red apple <lora:paper:1>")
    pipeline = engine.prompt_encoder().loras.pipeline

    def no_reload(*args, **kwargs):
        raise AssertionError("a LoRA already loaded was read again")

    monkeypatch.setattr(pipeline, "load_lora_weights", no_reload)
    assert np.array_equal(engine_image(engine, "a red apple <lora:ink:1>"), first)
    assert engine.model.unet is unet and set(unet.peft_config) == {"lora0", "lora1"}


def test_sdxl_kohya_lora_equals_diffusers(folders):
    loras, _ = folders
    path = write_lora(loras, "xl-ink", kohya_lora(tiny_sdxl_pipeline(seed=0), seed=3))
    engine = Engine()
    engine.use(loaded_model(tiny_sdxl_pipeline(seed=0), name="tiny-xl", family="sdxl"))
    reference = tiny_sdxl_pipeline(seed=0)
    load_into(reference, path, "xl-ink")
    ours = engine_image(engine, "a rocket <lora:xl-ink:0.6>", cfg=5.0)
    theirs = diffusers_image(reference, "a rocket", cfg=5.0, cross_attention_kwargs={"scale": 0.6})
    assert np.abs(ours - theirs).max() <= 1
    assert np.abs(ours - engine_image(engine, "a rocket", cfg=5.0)).max() > 0


def test_lcm_lora_with_the_lcm_sampler_equals_diffusers(engine, folders):
    loras, _ = folders
    path = write_lora(loras, "lcm-lora", kohya_lora(tiny_sd_pipeline(seed=0), seed=4, text_encoder=False))
    reference = tiny_sd_pipeline(seed=0)
    load_into(reference, path, "lcm")
    ours = engine_image(engine, "a red apple <lora:lcm-lora:1>", sampler="LCM", steps=2, cfg=1.0)
    theirs = diffusers_image(reference, "a red apple", sampler="LCM", steps=2, cfg=1.0)
    assert np.abs(ours - theirs).max() <= 1


def test_another_familys_lora_is_refused_in_one_line(engine, folders):
    loras, _ = folders
    write_lora(loras, "xl-only", kohya_lora(tiny_sdxl_pipeline(seed=0), seed=3))
    write_lora(loras, "tagged", kohya_lora(tiny_sd_pipeline(seed=0)), {"ss_base_model_version": "sdxl_base_v1-0"})
    for name in ("xl-only", "tagged"):
        with pytest.raises(InputError, match=r"is for SDXL, but model 'tiny' is SD 1\.x") as error:
            engine_image(engine, f"a red apple <lora:{name}:1>")
        assert "\n" not in str(error.value)
    assert "lora0" not in getattr(engine.model.unet, "peft_config", {})  # nothing was injected


def test_missing_lora_names_its_folders(engine, folders):
    with pytest.raises(InputError, match="LoRA 'nowhere' not found in .*my-loras"):
        engine_image(engine, "<lora:nowhere:1> a red apple")
