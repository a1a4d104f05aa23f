"""A batch is saved image by image: an interrupt or a kill keeps every finished image, whole."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from sdstudio import PROJECT_ROOT
from sdstudio.cli import main
from sdstudio.engine.engine import Engine
from sdstudio.io.images import read_parameters


def seed_of(path: Path) -> int:
    with Image.open(path) as image:
        image.load()  # a truncated file fails here
    parsed = read_parameters(path)
    assert parsed is not None, f"{path} lost its metadata"
    return parsed.seed


def test_each_image_is_saved_before_the_next_one_starts(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """The files exist (and are printed) while the batch is still running."""
    seen_when_starting: list[list[str]] = []
    original = Engine._generate_one

    def spy(self, model, request, *rest):
        seen_when_starting.append(sorted(p.name for p in tmp_path.glob("*.png")))
        return original(self, model, request, *rest)

    monkeypatch.setattr(Engine, "_generate_one", spy)
    assert main(["generate", "cat", "--model", str(tiny_model_dir), "--steps", "2", "--width", "64", "--height",
                 "64", "--seed", "3", "--batch", "3", "--out", str(tmp_path / "cat.png")]) == 0
    assert seen_when_starting == [[], ["cat-1.png"], ["cat-1.png", "cat-2.png"]]
    assert capsys.readouterr().out.split() == [str(tmp_path / f"cat-{i}.png") for i in (1, 2, 3)]


def test_ctrl_c_in_process_reports_what_was_saved(tiny_model_dir, tmp_path, monkeypatch, capsys):
    original = Engine._generate_one
    calls = []

    def interrupted_third(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Engine, "_generate_one", interrupted_third)
    code = main(["generate", "cat", "--model", str(tiny_model_dir), "--steps", "2", "--width", "64", "--height",
                 "64", "--seed", "3", "--batch", "5", "--out", str(tmp_path / "cat.png")])
    assert code == 130
    assert capsys.readouterr().err.strip() == "sdstudio: interrupted: 2 of 5 saved"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat-1.png", "cat-2.png"]


def start_batch(model_dir: Path, outputs: Path, batch: int) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SDSTUDIO_OUTPUT_DIR": str(outputs), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "sdstudio", "generate", "cat face", "--model", str(model_dir), "--steps", "4",
            "--width", "64", "--height", "64", "--seed", "100", "--batch", str(batch)]
    # Ctrl-C reaches a child only if SIGINT is not ignored: a test run started in the background inherits
    # SIG_IGN (as `nohup cmd &` does), and Python then keeps ignoring it. A terminal's child has the default.
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=PROJECT_ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["sigint", "sigterm", "sigkill"])
def test_a_killed_batch_keeps_the_finished_images_whole(tiny_model_dir, tmp_path, how):
    outputs, kept = tmp_path / "outputs", 2
    process = start_batch(tiny_model_dir, outputs, batch=8)
    try:
        printed = [process.stdout.readline().strip() for _ in range(kept)]
        process.send_signal(how)
        rest, err = process.communicate(timeout=600)
    finally:
        process.kill()
        process.communicate()
    printed += rest.split()
    files = sorted(outputs.iterdir())
    assert [str(p) for p in files] == printed  # every file printed, nothing else in the folder (no temp file)
    assert kept <= len(files) < 8
    assert [seed_of(p) for p in files] == list(range(100, 100 + len(files)))
    if how == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130
        assert err.strip().splitlines()[-1] == f"sdstudio: interrupted: {len(files)} of 8 saved"
        assert "Traceback" not in err
