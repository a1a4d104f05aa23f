"""Textual-inversion words: each A1111 layout gives the image diffusers' load_textual_inversion gives."""

import pickle

import numpy as np
import pytest
import torch

from sdstudio.engine.engine import Engine
from sdstudio.errors import InputError
from tests.engine.network_files import (
    diffusers_image,
    embedding_vectors,
    engine_image,
    write_embedding,
)
from tests.tiny_models import loaded_model, tiny_sd_pipeline, tiny_sdxl_pipeline


@pytest.mark.parametrize("layout", ["emb_params", "string_to_param", "diffusers"])
def test_embedding_image_equals_diffusers_load_textual_inversion(engine, folders, layout):
    _, embeddings = folders
    vectors = embedding_vectors(32, vectors=3, seed=1)
    write_embedding(embeddings, "shinystyle", layout, vectors)
    reference = tiny_sd_pipeline(seed=0)
    reference.load_textual_inversion(vectors, token="shinystyle")
    ours = engine_image(engine, "a red apple, shinystyle")
    assert np.abs(ours - diffusers_image(reference, "a red apple, shinystyle")).max() <= 1
    assert np.abs(ours - engine_image(engine, "a red apple, shiny style")).max() > 0


def test_word_is_matched_on_tokens_and_recorded(engine, folders):
    _, embeddings = folders
    write_embedding(embeddings, "ShinyStyle", "emb_params", embedding_vectors(32, seed=2))
    lower = engine.conditioning("a red apple, shinystyle", "")
    assert lower.embeddings == ("ShinyStyle",)
    assert torch.equal(engine.conditioning("a red apple, (ShinyStyle:1.0)", "").prompt, lower.prompt)
    assert engine.conditioning("a red apple, shinystyles", "").embeddings == ()  # another word


def test_sdxl_embedding_fills_both_encoders_like_diffusers(folders):
    _, embeddings = folders
    clip_l, clip_g = embedding_vectors(32, 2, seed=3), embedding_vectors(48, 2, seed=4)
    write_embedding(embeddings, "xlstyle", "sdxl", (clip_l, clip_g))
    engine = Engine()
    engine.use(loaded_model(tiny_sdxl_pipeline(seed=0), name="tiny-xl", family="sdxl"))
    reference = tiny_sdxl_pipeline(seed=0)
    reference.load_textual_inversion(
        clip_l, token="xlstyle", text_encoder=reference.text_encoder, tokenizer=reference.tokenizer
    )
    reference.load_textual_inversion(
        clip_g, token="xlstyle", text_encoder=reference.text_encoder_2, tokenizer=reference.tokenizer_2
    )
    ours = engine_image(engine, "a rocket, xlstyle", cfg=5.0)
    assert np.abs(ours - diffusers_image(reference, "a rocket, xlstyle", cfg=5.0)).max() <= 1


def test_embedding_for_another_family_stays_text(folders):
    _, embeddings = folders
    write_embedding(embeddings, "sd1style", "emb_params", embedding_vectors(32, seed=5))
    engine = Engine()
    engine.use(loaded_model(tiny_sdxl_pipeline(seed=0), name="tiny-xl", family="sdxl"))
    cond = engine.conditioning("a rocket, sd1style", "")
    assert cond.embeddings == ()


class Payload:
    def __reduce__(self):
        return (print, ("this would run code",))


def test_unsafe_pickle_is_refused(engine, folders):
    _, embeddings = folders
    with (embeddings / "trap.pt").open("wb") as file:
        pickle.dump({"string_to_param": {"*": Payload()}}, file)
    with pytest.raises(InputError, match="cannot read embedding 'trap.pt'"):
        engine.conditioning("a trap", "")
