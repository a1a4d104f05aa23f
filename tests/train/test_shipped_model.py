"""The model we ship in checkpoints/: the engine finds it as the default, loads it and draws."""

import json
from pathlib import Path

import numpy as np
import pytest

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "sdstudio-emoji"
pytestmark = pytest.mark.skipif(
    not (SHIPPED / "model_index.json").exists(), reason="the built-in model is not exported yet"
)


def test_the_shipped_model_is_the_default_and_small_enough():
    from sdstudio.engine.discovery import discover_models

    models = discover_models()
    assert models and models[0].builtin and models[0].path.resolve() == SHIPPED.resolve()
    size_mb = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file()) / 2**20
    assert size_mb <= 100
    meta = json.loads((SHIPPED / "sdstudio.json").read_text())
    assert np.array(meta["latent_rgb_factors"]).shape == (4, 3) and len(meta["latent_rgb_bias"]) == 3
    assert (SHIPPED / "README.md").is_file()


def test_the_engine_generates_a_drawing_with_the_default_model():
    from sdstudio.engine.engine import Engine
    from sdstudio.engine.requests import GenerationRequest

    previews = []
    result = Engine().generate(
        GenerationRequest(prompt="red apple", sampler="Euler", steps=6, cfg_scale=5.0, seed=1, width=64, height=64),
        on_step=lambda step: previews.append(step),
    )
    (image,) = result.images
    pixels = np.asarray(image.image, dtype=np.float32)
    assert image.model_name == "sdstudio-emoji" and pixels.shape == (64, 64, 3)
    assert pixels.std() > 5, "the image is not flat"
    assert len(previews) == 6
