"""Checkpoints that are hostile or only partly Stable Diffusion are refused from the header, in one
clear line and in well under a second, before diffusers is called."""

from __future__ import annotations

import json
import math
import struct
import time
from pathlib import Path

import pytest
import torch
from diffusers.loaders.single_file_utils import SingleFileComponentError
from safetensors import safe_open
from safetensors.torch import save_file

from sdstudio.engine import models
from sdstudio.engine.checkpoint_format import UNET_PREFIX, read_safetensors_header
from sdstudio.engine.models import load_model, resolve_model
from sdstudio.errors import ModelError


def write_header(path: Path, header: bytes | dict, data: bytes = b"") -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def refused(path: Path, match: str) -> str:
    started = time.perf_counter()
    with pytest.raises(ModelError, match=match) as error:
        load_model(resolve_model(str(path)))
    assert time.perf_counter() - started < 5.0
    message = str(error.value)
    assert "\n" not in message and path.name in message
    return message


def tensor(offset: int = 0, shape=(1,)) -> dict:
    size = 2 * math.prod(shape)
    return {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}


def test_a_50_mb_metadata_string_is_refused_from_the_header_size(tmp_path):
    header = {"__metadata__": {"notes": "x" * (50 * 2**20)}, UNET_PREFIX + "out.2.weight": tensor()}
    refused(write_header(tmp_path / "huge-metadata.safetensors", header, b"\0\0"), "MB header, larger than any real")


def test_a_million_key_header_is_refused_before_parsing(tmp_path):
    entry = b'"model.diffusion_model.k%d":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}'
    raw = b"{" + b",".join(entry % i for i in range(1_000_000)) + b"}"
    refused(write_header(tmp_path / "million.safetensors", raw, b"\0\0"), "larger than any real")


def test_too_many_tensors_in_a_small_header_is_refused(tmp_path):
    header = {f"{UNET_PREFIX}k{i}": tensor() for i in range(25_000)}
    refused(write_header(tmp_path / "many.safetensors", header, b"\0\0"), "lists 25,000 tensors")


def test_a_few_unet_keys_is_not_a_checkpoint(tmp_path):
    state = {UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
             UNET_PREFIX + "output_blocks.11.0.skip_connection.weight": torch.zeros(1),
             "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": torch.zeros(77, 768)}
    path = tmp_path / "fragment.safetensors"
    save_file(state, str(path))
    message = refused(path, "not a complete SD1 checkpoint")
    assert "only 2 of its ~686 UNet weights" in message


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("short", b"\x01\x02", "shorter than a header"),
        ("length-past-end", struct.pack("<Q", 10**6) + b"{}", "no valid header"),
        ("not-json", struct.pack("<Q", 4) + b"\xff\xfe{]", "not valid JSON"),
        ("deep", None, "not valid JSON"),
        ("list", struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        ("metadata-types", None, "__metadata__ is not a map of strings"),
        ("past-the-end", None, "lies outside the file"),
        ("wrong-size", None, "does not match its shape"),
        ("bad-dtype", None, "invalid dtype or shape"),
        ("negative-shape", None, "invalid dtype or shape"),
    ],
)
def test_malformed_headers_are_one_line(tmp_path, name, content, match):
    path = tmp_path / f"{name}.safetensors"
    if content is not None:
        path.write_bytes(content)
    elif name == "deep":
        write_header(path, b"[" * 100_000 + b"]" * 100_000)
    elif name == "metadata-types":
        write_header(path, {"__metadata__": {"a": {"nested": 1}}, "w": tensor()}, b"\0\0")
    elif name == "past-the-end":
        write_header(path, {"w": tensor(offset=100)}, b"\0\0")  # a truncated download
    elif name == "wrong-size":
        write_header(path, {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 2]}}, b"\0\0")
    elif name == "bad-dtype":
        write_header(path, {"w": {"dtype": "F99", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0")
    else:
        write_header(path, {"w": {"dtype": "F16", "shape": [-1], "data_offsets": [0, 2]}}, b"\0\0")
    refused(path, match)


def test_the_header_reader_agrees_with_the_safetensors_library(tmp_path):
    state = {"a": torch.zeros(3, 4), "b.c": torch.zeros(2, dtype=torch.float16), "empty": torch.zeros(0, 5)}
    path = tmp_path / "ok.safetensors"
    save_file(state, str(path), metadata={"format": "pt"})
    with safe_open(str(path), framework="pt") as handle:
        expected = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    assert {key: shape.shape for key, shape in read_safetensors_header(path).items()} == expected


def test_diffusers_single_file_errors_become_one_line(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise SingleFileComponentError("Failed to load AutoencoderKL. Weights appear to be missing.\nPlease load ...")

    monkeypatch.setattr(models.StableDiffusionPipeline, "from_single_file", fail)
    with pytest.raises(ModelError, match="Failed to load AutoencoderKL") as error:
        models.load_single_file_pipeline(models.StableDiffusionPipeline, tmp_path / "x.safetensors", tmp_path,
                                         torch.float32)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("config", ["sd1", "sd1-inpainting", "sd2", "sdxl"])
def test_full_size_layouts_pass_the_completeness_check(config):
    """The key counts we require are those of real full-size checkpoints (built on the meta device)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from sdstudio.engine.checkpoint_format import (
        CONFIGS_DIR,
        Architecture,
        Shape,
        check_complete,
        detect_architecture,
    )
    from tests.ldm_layout import clip_to_ldm, open_clip_to_ldm, unet_to_ldm, vae_to_ldm

    folder = CONFIGS_DIR / config
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        encoder = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
        state = unet_to_ldm(unet.state_dict(), unet.config) | vae_to_ldm(vae.state_dict(), vae.config)
        if config == "sdxl":
            second = CLIPTextModelWithProjection(CLIPTextConfig.from_pretrained(folder / "text_encoder_2"))
            state |= clip_to_ldm(encoder.state_dict(), "conditioner.embedders.0.transformer.")
            state |= open_clip_to_ldm(second.state_dict(), "conditioner.embedders.1.model.")
        elif config == "sd2":
            state |= open_clip_to_ldm(encoder.state_dict(), "cond_stage_model.model.")
        else:
            state |= clip_to_ldm(encoder.state_dict(), "cond_stage_model.transformer.")
    shapes = {key: Shape(tuple(value.shape)) for key, value in state.items()}
    path = Path(f"{config}.safetensors")  # never read: the shapes are given
    family = "sd1" if config.startswith("sd1") else config
    if family != "sd2":  # SD 2.x detection also reads one tensor (v-prediction); its counts are what matter here
        assert detect_architecture(path, shapes).config_dir.name == config
    architecture = Architecture(folder, family, "", "epsilon")
    check_complete(path, shapes, architecture)
    with pytest.raises(ModelError, match="not a complete"):
        check_complete(path, dict(list(shapes.items())[:100]), architecture)
