"""`sdstudio ... --backend URL`: the CLI's contract holds on a ComfyUI server too."""

from __future__ import annotations

import subprocess
import sys

from sdstudio.cli import main
from sdstudio.io.images import read_parameters
from tests.comfy.networks import EMBEDDING_NAMES, LORA_NAME, VAE_NAME
from tests.comfy.server import free_port


def test_models_lists_the_server_checkpoints_loras_embeddings_and_vaes(comfy_server, checkpoint_name, capsys):
    assert main(["models", "--backend", comfy_server.url]) == 0
    url = comfy_server.url
    assert capsys.readouterr().out.splitlines() == [
        f"{checkpoint_name}\tcomfyui\t{url}", f"{LORA_NAME}\tlora\t{url}",
        *(f"{name}\tembedding\t{url}" for name in EMBEDDING_NAMES),
        f"{VAE_NAME.removesuffix('.safetensors')}\tvae\t{url}",
    ]


def test_generate_on_the_server_with_previews(comfy_server, checkpoint_name, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDSTUDIO_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("SDSTUDIO_BACKEND", comfy_server.url)  # the variable alone picks the server
    code = main(["generate", "a red apple", "--steps", "4", "--width", "64", "--height", "64", "--seed", "61",
                 "--sampler", "Euler", "--batch", "2", "--previews", str(tmp_path / "previews"),
                 "--vae", VAE_NAME.removesuffix(".safetensors")])  # the server's VAE, not one of ours
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert [path.rsplit("/", 1)[-1] for path in printed] == ["00001-61.png", "00002-62.png"]
    parsed = read_parameters(printed[1])
    assert parsed is not None and (parsed.seed, parsed.model, parsed.size) == (62, checkpoint_name, (64, 64))
    assert parsed.settings.get("VAE") == VAE_NAME.removesuffix(".safetensors")
    for image in ("image_1", "image_2"):
        steps = sorted(path.name for path in (tmp_path / "previews" / image).iterdir())
        assert steps == [f"step_{step:03d}.png" for step in range(1, 5)]


def test_unknown_checkpoint_and_unreachable_server_exit_2_with_one_line(comfy_server, tmp_path):
    """In a fresh process: one line on stderr, no file, and torch never imported on this path."""
    script = ("import sys; from sdstudio.cli import main; code = main(sys.argv[1:]); "
              "print('torch' in sys.modules); sys.exit(code)")
    dead = f"http://127.0.0.1:{free_port()}"
    for backend, model, prompt, expected in (
        (comfy_server.url, "nope", "x", "unknown checkpoint 'nope' on the ComfyUI server"),
        (dead, "", "x", f"cannot reach the ComfyUI server at {dead}"),
        (comfy_server.url, "", "x <lora:absent:1>", "LoRA 'absent' is not on the ComfyUI server"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, "generate", prompt, "--backend", backend, "--model", model, "--steps", "2"],
            capture_output=True, text=True, timeout=120, env={"SDSTUDIO_OUTPUT_DIR": str(tmp_path / "out"),
                                                               "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert done.returncode == 2
        assert done.stdout == "False\n"
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"sdstudio: error: {expected}")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
