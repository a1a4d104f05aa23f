"""Latent exploration: blends, walks and trajectory branches give what a user expects to see."""

import numpy as np
import pytest
import torch
from PIL import Image

from sdstudio.engine.exploration import (
    LatentCache,
    blend,
    branch,
    cheap_decode,
    full_decode,
    latent_walk,
    plane_weights,
    refine,
    seed_prompt_walk,
    weighted_blend,
)
from sdstudio.engine.latents import decode, encode
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def request(**changes) -> GenerationRequest:
    values = dict(prompt="a cat", width=64, height=64, steps=4, sampler="Euler", seed=3, cfg_scale=5.0)
    return GenerationRequest(**(values | changes))


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    a = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    b = Image.new("RGB", (64, 64), (30, 90, 200))
    return a, b


@pytest.mark.parametrize("pacing", ["even", "uniform"])
@pytest.mark.parametrize("mode", ["slerp", "lerp"])
def test_walk_endpoints_are_the_vae_reconstructions(sd_engine, images, mode, pacing):
    cache = LatentCache()
    latent_a, latent_b = (cache.latent(sd_engine, image, (64, 64)) for image in images)
    walk = latent_walk(sd_engine, latent_a, latent_b, 5, mode, pacing=pacing)
    frames = walk.images
    assert len(frames) == 5 and walk.times[0] == 0.0 and walk.times[-1] == 1.0
    if pacing == "uniform":
        assert walk.times == [0.0, 0.25, 0.5, 0.75, 1.0]
    vae = sd_engine.model.vae
    assert np.array_equal(pixels(frames[0]), pixels(decode(vae, encode(vae, images[0]))[0]))
    assert np.array_equal(pixels(frames[-1]), pixels(decode(vae, encode(vae, images[1]))[0]))
    assert not np.array_equal(pixels(frames[2]), pixels(frames[0]))


def test_walk_refuses_bad_options_and_stops_when_cancelled(sd_engine, images):
    import threading

    cache = LatentCache()
    latent_a, latent_b = (cache.latent(sd_engine, image, (64, 64)) for image in images)
    with pytest.raises(InputError, match="at least 2 frames"):
        latent_walk(sd_engine, latent_a, latent_b, 1)
    with pytest.raises(InputError, match="pacing"):
        latent_walk(sd_engine, latent_a, latent_b, 3, pacing="fast")
    cancel = threading.Event()
    cancel.set()
    from sdstudio.errors import Cancelled

    with pytest.raises(Cancelled):
        latent_walk(sd_engine, latent_a, latent_b, 3, cancel=cancel)


def test_latents_are_cached_per_image(sd_engine, images):
    cache = LatentCache()
    first = cache.latent(sd_engine, images[0], (64, 64))
    assert cache.latent(sd_engine, images[0], (64, 64)) is first
    assert cache.latent(sd_engine, images[1], (64, 64)) is not first


def test_slerp_keeps_the_norm_where_lerp_shrinks_it():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(1, 4, 8, 8, generator=generator), torch.randn(1, 4, 8, 8, generator=generator)
    middle_slerp, middle_lerp = blend(a, b, 0.5, "slerp"), blend(a, b, 0.5, "lerp")
    mean_norm = (a.norm() + b.norm()) / 2
    assert float(middle_slerp.norm() / mean_norm) == pytest.approx(1, abs=1e-4)
    assert float(middle_lerp.norm() / mean_norm) < 0.8
    with pytest.raises(InputError):
        blend(a, b, 0.5, "cubic")


@pytest.mark.parametrize("corners", [3, 4])
def test_plane_weights_are_convex_and_exact_at_the_corners(corners):
    for x, y in [(0, 0), (1, 0), (0.3, 0.7), (1, 1), (0.5, 1)]:
        weights = plane_weights(x, y, corners)
        assert len(weights) == corners and all(w >= 0 for w in weights) and sum(weights) == pytest.approx(1)
    assert plane_weights(0, 0, corners)[0] == pytest.approx(1)
    assert plane_weights(1, 0, corners)[1] == pytest.approx(1)


def test_weighted_blend_at_a_corner_is_that_latent():
    latents = [torch.full((1, 4, 2, 2), float(i + 1)) for i in range(4)]
    assert torch.allclose(weighted_blend(latents, [0, 0, 1, 0]), latents[2])


def test_cheap_decode_is_latent_sized_and_full_decode_image_sized(sd_engine, images):
    latent = LatentCache().latent(sd_engine, images[0], (64, 64))
    assert cheap_decode(sd_engine, latent).size == (32, 32)  # tiny VAE: factor 2
    assert full_decode(sd_engine, latent).size == (64, 64)


def test_refined_frame_is_deterministic_and_differs_from_the_crossfade(sd_engine, images):
    cache = LatentCache()
    latent = blend(*(cache.latent(sd_engine, image, (64, 64)) for image in images), 0.5)
    refined = refine(sd_engine, latent, request(strength=0.6))
    assert np.array_equal(pixels(refined), pixels(refine(sd_engine, latent, request(strength=0.6))))
    assert not np.array_equal(pixels(refined), pixels(full_decode(sd_engine, latent)))


def test_seed_prompt_walk_ends_on_the_two_generations(sd_engine):
    start, end = request(seed=1, prompt="a cat"), request(seed=2, prompt="a dog")
    frames = seed_prompt_walk(sd_engine, start, end, 4)
    assert len(frames) == 4
    assert np.array_equal(pixels(frames[0]), pixels(sd_engine.generate(start).images[0].image))
    assert np.array_equal(pixels(frames[-1]), pixels(sd_engine.generate(end).images[0].image))


def test_branch_with_nothing_changed_gives_the_same_image(sd_engine):
    original = sd_engine.generate(request(steps=6, keep_trajectory=True)).images[0]
    again = branch(sd_engine, original, step=3)
    assert np.array_equal(pixels(again.image), pixels(original.image))


def test_branch_with_a_new_prompt_or_seed_changes_the_rest(sd_engine):
    original = sd_engine.generate(request(steps=6, keep_trajectory=True)).images[0]
    new_prompt = branch(sd_engine, original, step=2, prompt="a red rocket")
    new_seed = branch(sd_engine, original, step=2, seed=99)
    assert not np.array_equal(pixels(new_prompt.image), pixels(original.image))
    assert not np.array_equal(pixels(new_seed.image), pixels(original.image))
    assert new_prompt.request.prompt == "a red rocket" and new_seed.seed == 99


def test_branch_rejects_bad_steps_and_missing_trajectories(sd_engine):
    plain = sd_engine.generate(request()).images[0]
    with pytest.raises(InputError, match="no kept trajectory"):
        branch(sd_engine, plain, step=1)
    kept = sd_engine.generate(request(keep_trajectory=True)).images[0]
    with pytest.raises(InputError, match="from 1 to 3"):
        branch(sd_engine, kept, step=4)


def test_a_prompt_walk_between_a_short_and_a_long_prompt_blends_their_chunks(sd_engine):
    long_prompt = ", ".join(["a cat with a red hat"] * 20)  # well past 75 tokens: two or more chunks
    start, end = request(prompt="a cat", steps=3), request(prompt=long_prompt, steps=3, seed=4)
    frames = seed_prompt_walk(sd_engine, start, end, 3)
    assert len(frames) == 3 and not np.array_equal(pixels(frames[0]), pixels(frames[-1]))
    # the start frame is the short prompt padded with an empty chunk: nearly its own image
    plain = pixels(sd_engine.generate(start).images[0].image)
    difference = np.abs(pixels(frames[0]) - plain)
    assert difference.mean() < 1.0 and difference.max() <= 16
