"""Finding and loading models the way users have them: folders, single files, refusals."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
from safetensors.torch import save_file

from sdstudio.engine import discovery
from sdstudio.engine.checkpoint_format import detect_architecture, load_pickle_safely
from sdstudio.engine.discovery import discover_models, resolve_model
from sdstudio.engine.engine import Engine
from sdstudio.engine.models import load_model, load_single_file_pipeline
from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import ModelError
from tests.ldm_layout import save_ldm_checkpoint
from tests.tiny_models import save_tiny_sd, save_tiny_sdxl, tiny_sd_pipeline, tiny_sdxl_pipeline

U = "model.diffusion_model."


@pytest.fixture
def model_dir(tmp_path, monkeypatch, tiny_model_dir):
    """An empty extra model folder, with an empty checkpoints/ in place of the project's (which
    ships the built-in model): discovery sees only what each test puts there."""
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "checkpoints").mkdir()
    monkeypatch.setattr(discovery, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setenv("SDSTUDIO_MODEL_DIRS", str(folder))
    return folder


def test_discovers_folders_and_single_files(model_dir, tiny_model_dir):
    os.symlink(tiny_model_dir, model_dir / "my-folder-model")
    (model_dir / "photo.safetensors").write_bytes(b"")
    (model_dir / "old.ckpt").write_bytes(b"")
    (model_dir / "notes.txt").write_text("not a model")
    (model_dir / ".hidden.safetensors").write_bytes(b"")
    found = {info.name: info for info in discover_models() if info.path.parent == model_dir}
    assert set(found) == {"my-folder-model", "photo", "old"}
    assert found["my-folder-model"].kind == "diffusers"
    assert found["photo"].kind == "safetensors"
    assert found["old"].kind == "ckpt"


def test_builtin_model_comes_first_and_is_the_default(model_dir, tiny_model_dir, tmp_path):
    builtin = save_tiny_sd(model_dir / "zzz-builtin")
    (builtin / "sdstudio.json").write_text('{"builtin": true, "default_size": 64}')
    os.symlink(tiny_model_dir, model_dir / "aaa")
    models = discover_models()
    assert models[0].name == "zzz-builtin" and models[0].builtin
    assert resolve_model("").name == "zzz-builtin"


def test_resolve_by_name_case_and_path(model_dir, tiny_model_dir):
    os.symlink(tiny_model_dir, model_dir / "Tiny-One")
    assert resolve_model("Tiny-One").name == "Tiny-One"
    assert resolve_model("tiny-one").name == "Tiny-One"
    assert resolve_model(str(tiny_model_dir)).path == tiny_model_dir


@pytest.mark.parametrize(
    ("name", "message"),
    [("no-such-model", "unknown model 'no-such-model'"), ("missing/file.safetensors", "does not exist")],
)
def test_resolve_errors_say_what_to_do(model_dir, name, message):
    with pytest.raises(ModelError, match=message):
        resolve_model(name)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    text = tmp_path / "readme.txt"
    text.write_text("hello")
    with pytest.raises(ModelError, match="is not a model"):
        resolve_model(str(text))


def test_folder_model_loads_and_generates_with_its_own_settings(tmp_path):
    folder = save_tiny_sd(tmp_path / "custom")
    factors = [[0.1, 0.2, 0.3], [0.0, 0.1, 0.0], [0.2, 0.0, 0.1], [0.0, 0.0, 0.5]]
    settings = {"name": "Custom", "default_size": 64, "latent_rgb_factors": factors, "latent_rgb_bias": [0.1, 0, 0]}
    (folder / "sdstudio.json").write_text(json.dumps(settings))
    events = []
    model = load_model(resolve_model(str(folder)), on_progress=events.append)
    assert model.name == "Custom" and model.default_size == 64
    assert model.preview_factors[0][3] == (0.0, 0.0, 0.5)
    assert events[0].fraction == 0.0 and events[-1].stage == "ready"
    engine = Engine()
    engine.use(model)
    image = engine.generate(GenerationRequest("a cat", width=64, height=64, steps=2)).images[0].image
    assert np.asarray(image).std() > 0


def test_incomplete_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "broken"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    with pytest.raises(ModelError, match="no 'vae/' subfolder"):
        load_model(resolve_model(str(folder)))


@pytest.mark.parametrize("kind", ["sd1", "sd1-inpainting", "sd2", "sdxl"])
def test_single_file_round_trip_gives_back_every_weight(tmp_path, kind):
    """Our LDM writer + diffusers' conversion (with a local config folder) return the very same
    weights: the single-file path of SD 1.x (CLIP), inpainting (9-channel UNet), SD 2.x
    (OpenCLIP, fused q/k/v) and SDXL (two encoders, label embedding), on tiny models."""
    if kind == "sdxl":
        pipe, pipeline_class = tiny_sdxl_pipeline(seed=0), StableDiffusionXLPipeline
        config = save_tiny_sdxl(tmp_path / "config")
    else:
        pipe, pipeline_class = tiny_sd_pipeline(seed=0, inpainting=kind == "sd1-inpainting"), StableDiffusionPipeline
        config = save_tiny_sd(tmp_path / "config", inpainting=kind == "sd1-inpainting")
    checkpoint = save_ldm_checkpoint(pipe, tmp_path / f"{kind}.safetensors", torch.float32, open_clip=kind == "sd2")
    loaded = load_single_file_pipeline(pipeline_class, checkpoint, config, torch.float32)
    parts = ["unet", "vae", "text_encoder"] + (["text_encoder_2"] if kind == "sdxl" else [])
    for part in parts:
        original, converted = getattr(pipe, part).state_dict(), getattr(loaded, part).state_dict()
        assert original.keys() == converted.keys(), part
        assert all(torch.equal(original[k], converted[k]) for k in original), part


def write_shapes(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def sd1_keys(in_channels: int = 4) -> dict[str, torch.Tensor]:
    return {
        U + "input_blocks.0.0.weight": torch.zeros(320, in_channels, 3, 3),
        U + "output_blocks.11.0.skip_connection.weight": torch.zeros(1),
        "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": torch.zeros(77, 768),
    }


def sd2_keys(probe_std: float) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        U + "input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
        U + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(320, 1024),
        U + "output_blocks.11.1.transformer_blocks.0.norm1.bias": torch.randn(320, generator=generator) * probe_std,
        "cond_stage_model.model.token_embedding.weight": torch.zeros(8, 1024),
    }


def sdxl_keys() -> dict[str, torch.Tensor]:
    return {
        U + "input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
        "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": torch.zeros(1280),
    }


@pytest.mark.parametrize(
    ("keys", "config", "prediction"),
    [
        (sd1_keys(), "sd1", "epsilon"),
        (sd1_keys(in_channels=9), "sd1-inpainting", "epsilon"),
        (sd2_keys(probe_std=0.3), "sd2-v", "v_prediction"),
        (sd2_keys(probe_std=0.01), "sd2", "epsilon"),
        (sdxl_keys(), "sdxl", "epsilon"),
    ],
    ids=["sd1", "sd1-inpainting", "sd2-v", "sd2-base", "sdxl"],
)
def test_architecture_is_detected_from_keys(tmp_path, keys, config, prediction):
    architecture = detect_architecture(write_shapes(tmp_path / "model.safetensors", keys))
    assert architecture.config_dir.name == config
    assert architecture.prediction_type == prediction
    assert (architecture.config_dir / "model_index.json").is_file()  # the offline config exists


def test_sd2_sidecar_yaml_decides_parameterization(tmp_path):
    path = write_shapes(tmp_path / "model.safetensors", sd2_keys(probe_std=0.3))
    (tmp_path / "model.yaml").write_text("model:\n  params:\n    linear_start: 0.00085\n")
    assert detect_architecture(path).prediction_type == "epsilon"
    (tmp_path / "model.yaml").write_text('model:\n  params:\n    parameterization: "v"\n')
    assert detect_architecture(path).prediction_type == "v_prediction"


def test_lora_file_is_refused_with_a_reason(tmp_path):
    path = write_shapes(tmp_path / "style.safetensors", {"lora_unet_down.lora_up.weight": torch.zeros(4, 4)})
    with pytest.raises(ModelError, match="no Stable Diffusion UNet weights"):
        load_model(resolve_model(str(path)))


def test_corrupt_safetensors_is_refused(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(os.urandom(300))
    with pytest.raises(ModelError, match="not a readable .safetensors"):
        load_model(resolve_model(str(path)))


class CreatesAFile:
    """A pickle payload that would create a file if it were ever unpickled fully."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_malicious_ckpt_is_refused_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned.txt"
    path = tmp_path / "evil.ckpt"
    with path.open("wb") as handle:
        pickle.dump({"state_dict": {"x": CreatesAFile(target)}}, handle)
    with pytest.raises(ModelError, match="refusing to load 'evil.ckpt'"):
        load_model(resolve_model(str(path)))
    assert not target.exists()
    torch.save({"state_dict": {"x": CreatesAFile(target)}}, tmp_path / "evil2.ckpt")  # zip format, same trick
    target.unlink(missing_ok=True)
    with pytest.raises(ModelError, match="refusing"):
        load_model(resolve_model(str(tmp_path / "evil2.ckpt")))
    assert not target.exists()


def test_safe_ckpt_state_dict_is_read(tmp_path):
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": sd1_keys(), "global_step": 10}, path)
    state = load_pickle_safely(path)
    assert U + "input_blocks.0.0.weight" in state
    assert detect_architecture(path).config_dir.name == "sd1"


@pytest.mark.slow
def test_full_size_sd15_single_file_generates(tmp_path):
    """The path real users take: a full SD 1.5-architecture fp16 single file (random weights)."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from sdstudio.engine.checkpoint_format import CONFIGS_DIR

    config = CONFIGS_DIR / "sd1"
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        unet=UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config / "unet")),
        vae=AutoencoderKL.from_config(AutoencoderKL.load_config(config / "vae")),
        text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(config / "text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(config / "tokenizer"),
        scheduler=PNDMScheduler.from_config(PNDMScheduler.load_config(config / "scheduler")),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    path = save_ldm_checkpoint(pipe, tmp_path / "random-sd15.safetensors", torch.float16)
    del pipe
    assert path.stat().st_size > 1.5e9
    engine = Engine()
    model = engine.load(str(path))
    assert model.family == "sd1" and model.default_size == 512
    request = GenerationRequest("a lighthouse", width=256, height=256, steps=2, sampler="Euler", seed=1)
    image = engine.generate(request).images[0].image
    assert image.size == (256, 256)
    assert np.asarray(image).std() > 0
