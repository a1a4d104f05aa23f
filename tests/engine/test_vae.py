"""VAE override as a user meets it: a single-file VAE changes the decoded image for one job, the
next job without it is the model's own again, nothing is reloaded, and bad files are refused."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sdstudio.engine.engine import Engine
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import ModelError, SdStudioError
from tests.ldm_layout import vae_to_ldm
from tests.tiny_models import loaded_model, save_tiny_sd, tiny_sd_pipeline, tiny_vae, write_vae


def request(**changes) -> GenerationRequest:
    base = dict(prompt="a cat face", sampler="Euler", steps=4, cfg_scale=6.0, seed=7, width=64, height=64)
    return GenerationRequest(**{**base, **changes})


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return save_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture
def engine(model_folder):
    engine = Engine()
    engine.load(str(model_folder))
    return engine


def test_a_vae_file_decodes_the_job_and_the_next_job_is_the_models_own_again(engine, tmp_path):
    vae_file = write_vae(tmp_path / "ft-mse.safetensors")
    own = engine.generate(request()).images[0].image
    events = []
    swapped = engine.generate(request(vae=str(vae_file)), on_step=events.append).images[0]
    assert np.abs(pixels(swapped.image) - pixels(own)).mean() > 1
    assert swapped.request.vae == str(vae_file)
    # the same latents through the other VAE, loaded directly, give the same pixels
    reference = Engine()
    reference.use(loaded_model(tiny_sd_pipeline(0)))
    reference.model.vae = tiny_vae(5)
    assert np.abs(pixels(reference.generate(request()).images[0].image) - pixels(swapped.image)).max() <= 1
    # back to the model's own VAE; previews stay the model's (they come from latents, not the VAE)
    own_events = []
    assert np.array_equal(pixels(engine.generate(request(), on_step=own_events.append).images[0].image), pixels(own))
    assert all(np.array_equal(pixels(a.preview), pixels(b.preview)) for a, b in zip(events, own_events, strict=True))


def test_switching_vae_reloads_neither_the_checkpoint_nor_a_vae_already_loaded(engine, tmp_path):
    vae_file = write_vae(tmp_path / "a.safetensors")
    model = engine.model
    first = engine.generate(request(vae=str(vae_file))).images[0].image
    engine.generate(request())
    again = engine.generate(request(vae=str(vae_file))).images[0].image
    assert engine.model is model
    assert engine._vaes.loads == 1
    assert np.array_equal(pixels(first), pixels(again))


def test_a_vae_inside_a_checkpoint_layout_loads_too(engine, tmp_path):
    standalone = engine.generate(request(vae=str(write_vae(tmp_path / "a.safetensors")))).images[0].image
    prefixed = write_vae(tmp_path / "b.safetensors", prefix="first_stage_model.")
    assert np.array_equal(pixels(engine.generate(request(vae=str(prefixed))).images[0].image), pixels(standalone))


def test_img2img_encodes_with_the_override_too(engine, tmp_path):
    from PIL import Image

    vae_file = write_vae(tmp_path / "a.safetensors")
    init = Image.new("RGB", (64, 64), (180, 60, 20))
    own = engine.generate(request(init_image=init, strength=0.3)).images[0].image
    swapped = engine.generate(request(init_image=init, strength=0.3, vae=str(vae_file))).images[0].image
    assert np.abs(pixels(own) - pixels(swapped)).mean() > 1


def test_bad_vae_files_are_refused_with_one_line_before_any_step(engine, tmp_path):
    steps = []
    with pytest.raises(ModelError, match="VAE file '.*missing.safetensors' does not exist"):
        engine.generate(request(vae=str(tmp_path / "missing.safetensors")), on_step=steps.append)
    lora = tmp_path / "lora.safetensors"
    save_file({"lora_unet_mid_block.lora_up.weight": torch.zeros(4, 4)}, lora)
    with pytest.raises(ModelError, match="'lora.safetensors' is not a VAE: it has no VAE weights"):
        engine.generate(request(vae=str(lora)), on_step=steps.append)
    partial = tmp_path / "partial.safetensors"
    full = write_vae(tmp_path / "full.safetensors")
    from safetensors.torch import load_file

    save_file({k: v for k, v in load_file(full).items() if not k.startswith("decoder.up.0")}, partial)
    with pytest.raises(ModelError, match="VAE 'partial.safetensors' does not fit model 'tiny-sd'"):
        engine.generate(request(vae=str(partial)), on_step=steps.append)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match="is not a .safetensors/.ckpt/.pt file"):
        engine.generate(request(vae=str(text)))
    assert steps == []
    assert engine.generate(request(steps=2)).images[0].image.size == (64, 64)


def test_a_vae_is_found_by_name_in_the_vae_folders(engine, tmp_path, monkeypatch):
    folder = tmp_path / "vae"
    folder.mkdir()
    by_path = engine.generate(request(vae=str(write_vae(folder / "kl-f8-anime2.0.safetensors")))).images[0].image
    monkeypatch.setenv("SDSTUDIO_VAE_DIRS", str(folder))
    by_name = engine.generate(request(vae="kl-f8-anime2.0")).images[0].image
    assert np.array_equal(pixels(by_name), pixels(by_path))
    with pytest.raises(SdStudioError, match="VAE 'nowhere' not found in"):
        engine.generate(request(vae="nowhere"))


def test_an_sd1_sized_vae_file_loads_offline_with_the_shipped_sd1_config(tmp_path):
    """The ft-MSE case: a standalone fp16 LDM-layout VAE for an SD 1.x single-file checkpoint (whose
    VAE config is resources/configs/sd1/vae), converted without any download."""
    from dataclasses import replace

    from diffusers import AutoencoderKL

    from sdstudio import RESOURCES_DIR
    from sdstudio.engine.vae import load_vae

    config = AutoencoderKL.load_config(RESOURCES_DIR / "configs" / "sd1" / "vae")
    own = AutoencoderKL.from_config(config)
    torch.manual_seed(3)
    fine_tuned = AutoencoderKL.from_config(config)
    state = {key.removeprefix("first_stage_model."): value.half().contiguous()
             for key, value in vae_to_ldm(fine_tuned.state_dict(), fine_tuned.config).items()}
    save_file(state, tmp_path / "vae-ft-mse-840000-ema-pruned.safetensors")
    model = replace(loaded_model(tiny_sd_pipeline(0)), vae=own, family="sd1", source="")
    loaded = load_vae(tmp_path / "vae-ft-mse-840000-ema-pruned.safetensors", model)
    assert loaded.dtype == own.dtype and loaded.config.scaling_factor == 0.18215
    assert all(torch.equal(ours.half(), theirs.half())
               for ours, theirs in zip(loaded.state_dict().values(), fine_tuned.state_dict().values(), strict=True))
