"""Finding LoRAs, embeddings and VAEs where users keep them, with what the browser shows and A1111's hashes."""

import hashlib
import json
import subprocess
import sys

import pytest
import torch

from sdstudio.engine import discovery, hashes
from sdstudio.engine.discovery import discover_models, discover_networks, network_dirs, resolve_network
from sdstudio.errors import InputError
from tests.engine.network_files import kohya_lora, write_lora
from tests.tiny_models import tiny_sd_pipeline


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A project root of the test's own: checkpoints/ with loras/, embeddings/, vae/ beside it."""
    for name in ("checkpoints", "loras", "embeddings", "vae"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(discovery, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    for variable in ("SDSTUDIO_MODEL_DIRS", "SDSTUDIO_LORA_DIRS", "SDSTUDIO_EMBEDDING_DIRS", "SDSTUDIO_VAE_DIRS"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folders_beside_checkpoints_and_from_the_environment(root, tmp_path, monkeypatch):
    touch(root / "loras" / "styles" / "ink.safetensors")
    touch(root / "embeddings" / "bad-hands.pt")
    touch(root / "vae" / "ft-mse.safetensors")
    touch(root / "loras" / "notes.txt")
    extra = [tmp_path / "more-a", tmp_path / "more-b"]
    touch(extra[0] / "paper.safetensors")
    touch(extra[1] / "ink.safetensors")  # same name: the first folder wins
    monkeypatch.setenv("SDSTUDIO_LORA_DIRS", f"{extra[0]}:{extra[1]}")
    loras = discover_networks("lora")
    assert [(info.name, info.path.parent.name) for info in loras] == [("ink", "styles"), ("paper", "more-a")]
    assert [info.name for info in discover_networks("embedding")] == ["bad-hands"]
    assert [info.name for info in discover_networks("vae")] == ["ft-mse"]
    assert network_dirs("lora")[:3] == [root / "loras", *extra]


@pytest.mark.parametrize(
    ("layout", "parts"),
    [
        ("a1111", ("models/Stable-diffusion", "models/Lora", "embeddings", "models/VAE")),
        ("comfyui", ("models/checkpoints", "models/loras", "models/embeddings", "models/vae")),
    ],
)
def test_an_a1111_or_comfyui_install_is_understood_with_all_its_parts(root, tmp_path, monkeypatch, layout, parts):
    install = tmp_path / layout
    checkpoints, loras, embeddings, vaes = (install / part for part in parts)
    touch(checkpoints / "dreamy.safetensors")
    touch(loras / "ink.safetensors")
    touch(embeddings / "bad-hands.safetensors")
    touch(vaes / "ft-mse.safetensors")
    monkeypatch.setenv("SDSTUDIO_MODEL_DIRS", str(install))
    assert [m.name for m in discover_models() if m.path.parent == checkpoints] == ["dreamy"]
    kinds = {info.kind: info.path for info in discovery.discover_all_networks()}
    assert kinds == {
        "lora": loras / "ink.safetensors",
        "embedding": embeddings / "bad-hands.safetensors",
        "vae": vaes / "ft-mse.safetensors",
    }


def test_lora_metadata_base_model_and_trigger_words(root):
    tags = {"10_ink": {"ink style": 12, "1girl": 3}, "5_more": {"ink style": 2, "sketch": 5}}
    metadata = {"ss_base_model_version": "sd_v1", "ss_tag_frequency": json.dumps(tags), "ss_output_name": "InkV2"}
    write_lora(root / "loras", "ink", kohya_lora(tiny_sd_pipeline(seed=0)), metadata)
    write_lora(root / "loras", "xl", {"lora_te2_text_model_x.lora_down.weight": torch.zeros(2, 4)})
    info = resolve_network("lora", "INK")
    assert info.base_model == "sd_v1" and info.family == "sd1"
    assert info.trigger_words == ["ink style", "sketch", "1girl"]
    assert resolve_network("lora", "inkv2").path == info.path  # the trainer's name works too
    assert resolve_network("lora", "xl").family == "sdxl"


def test_missing_name_is_one_line_naming_the_folders(root):
    with pytest.raises(InputError, match="embedding 'nothing' not found in .*embeddings") as error:
        resolve_network("embedding", "nothing")
    assert "\n" not in str(error.value)


def test_short_hashes_are_a1111s(root):
    path = write_lora(root / "loras", "ink", {"w": torch.arange(6.0)}, {"ss_output_name": "ink"})
    data = path.read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    assert hashes.lora_hash(path) == hashlib.sha256(data[header_end:]).hexdigest()[:12]
    assert hashes.embedding_hash(path) == hashlib.sha256(data).hexdigest()[:12]
    assert hashes.vae_hash(path) == hashes.model_hash(path) == hashlib.sha256(data).hexdigest()[:10]
    stored = write_lora(root / "loras", "kohya", {"w": torch.ones(2)}, {"sshs_model_hash": "abcdef0123456789"})
    assert hashes.lora_hash(stored) == "abcdef012345"  # what kohya's trainer stored is what A1111 writes


def test_discovery_and_hashes_import_without_torch():
    code = "import sys, sdstudio.engine.discovery, sdstudio.engine.hashes; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
