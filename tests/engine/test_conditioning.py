"""Prompt encoding with A1111's conventions: weights, chunks past 75 tokens, clip skip; plain prompts unchanged."""

import numpy as np
import pytest
import torch

from sdstudio.engine.conditioning import encode_prompts
from sdstudio.engine.requests import GenerationRequest
from tests.tiny_models import loaded_model, tiny_sd_pipeline

LONG = ", ".join(f"word{i}" for i in range(40))  # well past 75 tokens


def image(engine, prompt: str, **fields) -> np.ndarray:
    request = GenerationRequest(prompt=prompt, sampler="Euler", steps=3, seed=5, width=64, height=64, **fields)
    return np.asarray(engine.generate(request).images[0].image, dtype=np.int16)


def test_weight_one_is_the_plain_prompt(sd_engine):
    model = sd_engine.model
    plain = encode_prompts(model, "a red apple", "blurry")
    assert torch.equal(encode_prompts(model, "a (red:1.0) apple", "blurry").prompt, plain.prompt)
    assert torch.equal(encode_prompts(model, "a red apple <lora:none:0>", "blurry").negative, plain.negative)


def test_weights_scale_tokens_and_keep_the_mean():
    pipe = tiny_sd_pipeline(seed=3)
    with torch.no_grad():  # a trained CLIP's final norm has a bias; a fresh one's zero mean would make A1111's
        pipe.text_encoder.final_layer_norm.bias.normal_(0.5, 0.1)  # mean restore divide by ~0
    model = loaded_model(pipe)
    plain = encode_prompts(model, "a red apple", "").prompt[0]
    weighted = encode_prompts(model, "a (red:1.5) apple", "").prompt[0]
    assert torch.allclose(weighted.mean(), plain.mean(), atol=1e-5)
    scale = weighted.norm(dim=-1) / plain.norm(dim=-1)  # token 2 is "red"
    assert scale[2] / scale[1] == pytest.approx(1.5, rel=1e-4)
    assert torch.allclose(scale[[0, 1, 3, 4]], scale[1].expand(4), rtol=1e-4)


def test_long_prompts_are_chunked_and_cond_uncond_match(sd_engine):
    cond = encode_prompts(sd_engine.model, LONG, "blurry")
    assert cond.prompt.shape[1] == cond.negative.shape[1] > 77 and cond.prompt.shape[1] % 77 == 0
    short = encode_prompts(sd_engine.model, "blurry", "")
    assert torch.equal(cond.negative[:, :77], short.prompt)  # the negative's own chunk is unchanged by padding


def test_words_past_token_75_change_the_image(sd_engine):
    changed = LONG.replace("word39", "banana")
    assert "banana" not in LONG
    assert np.abs(image(sd_engine, LONG) - image(sd_engine, changed)).max() > 0


def test_break_changes_the_image(sd_engine):
    assert np.abs(image(sd_engine, "a red apple") - image(sd_engine, "a red BREAK apple")).max() > 0


def test_clip_skip_two_is_the_penultimate_layer_through_the_final_norm(sd_engine):
    model = sd_engine.model
    tokenizer, encoder = model.tokenizers[0], model.text_encoders[0]
    ids = tokenizer("a red apple", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = encoder(ids, output_hidden_states=True).hidden_states[-2]
        expected = encoder.final_layer_norm(hidden)
    cond = encode_prompts(model, "a red apple", "", clip_skip=2)
    assert torch.allclose(cond.prompt, expected, atol=1e-6)
    assert not torch.allclose(cond.prompt, encode_prompts(model, "a red apple", "").prompt)


def test_engine_cache_keys_on_clip_skip(sd_engine):
    first = sd_engine.conditioning("a red apple", "", 1)
    assert sd_engine.conditioning("a red apple", "", 1).prompt is first.prompt  # from the cache, not encoded again
    assert not torch.equal(sd_engine.conditioning("a red apple", "", 2).prompt, first.prompt)
    assert np.abs(image(sd_engine, "a red apple") - image(sd_engine, "a red apple", clip_skip=2)).max() > 0


def test_sdxl_keeps_its_penultimate_default_and_clip_skip_moves_clip_l(sdxl_engine):
    model = sdxl_engine.model
    default = encode_prompts(model, "a rocket", "")
    assert torch.equal(encode_prompts(model, "a rocket", "", clip_skip=2).prompt, default.prompt)
    deeper = encode_prompts(model, "a rocket", "", clip_skip=3)
    width_l = model.text_encoders[0].config.hidden_size
    assert not torch.equal(deeper.prompt[..., :width_l], default.prompt[..., :width_l])
    assert torch.equal(deeper.prompt[..., width_l:], default.prompt[..., width_l:])  # CLIP-G as before


def test_sdxl_long_prompt_pools_the_first_chunk(sdxl_engine):
    model = sdxl_engine.model
    long = encode_prompts(model, "a rocket, " + LONG, "")
    first = encode_prompts(model, "a rocket, " + LONG.split(", word30")[0], "")
    assert long.prompt.shape[1] > 77 and long.negative.shape == long.prompt.shape
    assert long.pooled.shape == first.pooled.shape == (1, model.text_encoders[1].config.projection_dim)


def test_every_text_of_an_edit_gets_the_same_chunk_count(sd_engine):
    # A1111 encodes a schedule's texts as one batch: the short one is padded with empty-prompt chunks
    schedule = sd_engine.conditioning_schedule(f"[{LONG}:blurry:0.5]", "", 1, 4)
    long, short = schedule.at(0), schedule.at(3)
    assert long.prompt.shape == short.prompt.shape == short.negative.shape and short.prompt.shape[1] > 77
    assert torch.equal(short.prompt[:, :77], encode_prompts(sd_engine.model, "blurry", "").prompt)
    assert not torch.equal(long.prompt, short.prompt)


def test_sdxl_empty_negative_stays_zero_under_an_edited_prompt(sdxl_engine):
    schedule = sdxl_engine.conditioning_schedule("a [rocket:boat:0.5]", "", 1, 4)
    assert schedule.at(0) is not schedule.at(3)
    for cond in (schedule.at(0), schedule.at(3)):
        assert not cond.negative.any() and not cond.negative_pooled.any()


def test_an_empty_sdxl_negative_costs_no_encode(sdxl_engine):
    encodes = []
    handle = sdxl_engine.model.text_encoders[0].register_forward_pre_hook(lambda *_: encodes.append(1))
    try:
        request = GenerationRequest(prompt="a [rocket|boat]", steps=4, cfg_scale=5.0, width=64, height=64)
        sdxl_engine.generate(request)
    finally:
        handle.remove()
    assert len(encodes) == 2  # "a rocket" and "a boat"; the negative is zeros
