"""The latent explorer with a VAE override: latents are encoded and decoded with the VAE the user
chose, as generations are; with none chosen, the model's own VAE, as before."""

import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from sdstudio.engine.engine import Engine
from sdstudio.engine.exploration import LatentCache, branch, full_decode, latent_walk, refine
from sdstudio.engine.latents import decode, encode
from sdstudio.engine.requests import GenerationRequest
from tests.tiny_models import write_vae

SIZE = (64, 64)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def round_trip(vae, image: Image.Image) -> np.ndarray:
    return pixels(decode(vae, encode(vae, image))[0])


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> Engine:
    """A model loaded from disk: a VAE override takes the config of the model's own VAE from its folder."""
    engine = Engine()
    engine.load(str(tiny_model_dir))
    return engine


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    return str(write_vae(tmp_path_factory.mktemp("vae") / "ft-mse.safetensors"))


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), Image.new("RGB", SIZE, (30, 90, 200))


def test_cached_latents_are_the_chosen_vaes_and_a_walk_decodes_with_it(engine, vae_file, images):
    cache = LatentCache()
    own = cache.latent(engine, images[0], SIZE)
    swapped_a, swapped_b = (cache.latent(engine, image, SIZE, vae=vae_file) for image in images)
    override = engine.with_vae(vae=vae_file).vae
    assert not torch.equal(own, swapped_a)
    assert torch.equal(swapped_a, encode(override, images[0]).to(engine.model.dtype))
    assert cache.latent(engine, images[0], SIZE, vae=vae_file) is swapped_a
    assert cache.latent(engine, images[0], SIZE) is own
    walk = latent_walk(engine, swapped_a, swapped_b, 3, pacing="uniform", vae=vae_file)
    assert np.array_equal(pixels(walk.images[0]), round_trip(override, images[0]))
    assert np.array_equal(pixels(walk.images[-1]), round_trip(override, images[1]))
    assert np.abs(pixels(walk.images[0]) - round_trip(engine.model.vae, images[0])).mean() > 1
    # no override: the model's own VAE, as before
    assert np.array_equal(pixels(full_decode(engine, own)), round_trip(engine.model.vae, images[0]))


def test_a_vae_file_replaced_under_its_name_is_encoded_again(engine, images, tmp_path):
    path = write_vae(tmp_path / "swap.safetensors", seed=5)
    cache = LatentCache()
    first = cache.latent(engine, images[0], SIZE, vae=str(path))
    write_vae(path, seed=6)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later time, however coarse the clock
    assert not torch.equal(cache.latent(engine, images[0], SIZE, vae=str(path)), first)


def test_an_unrefined_frame_and_a_branch_decode_with_the_requests_vae(engine, tiny_model_dir, vae_file):
    request = GenerationRequest(prompt="a cat", model=str(tiny_model_dir), width=64, height=64, steps=4,
                                sampler="Euler", seed=3, cfg_scale=5.0, vae=vae_file, keep_trajectory=True)
    generated = engine.generate(request).images[0]
    override = engine.with_vae(vae=vae_file).vae
    x0 = generated.denoised[1]
    unrefined = refine(engine, x0, replace(request, strength=0.0))
    assert np.array_equal(pixels(unrefined), pixels(decode(override, x0)[0]))
    branched = branch(engine, generated, 2)
    assert branched.request.vae == vae_file
    assert np.array_equal(pixels(branched.image), pixels(generated.image))
