"""Every hostile input to the real CLI (a subprocess, as a user runs it) is answered with exit 2 and
one line on stderr, no traceback, no output, and no file left behind, before any compute.

Most of these are refused before torch is even imported, so each case takes about a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sdstudio import PROJECT_ROOT
from tests.fuzz.hostile_files import broken_images, hostile_checkpoints, odd_metadata_images, png

PROMPT_BYTES = b"a cat \xff\xfe in a hat"  # not UTF-8: Python hands it over as lone surrogates


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """One folder of hostile inputs, written once for the module (some are 50-70 MB)."""
    folder = tmp_path_factory.mktemp("hostile")
    for name, data in {**broken_images(), **hostile_checkpoints(), **odd_metadata_images()}.items():
        (folder / name).write_bytes(data)
    (folder / "good.png").write_bytes(png())
    (folder / "a-file").write_text("I am a file")
    (folder / "line\nbreak.safetensors").write_bytes(b"\x10" + bytes(100))  # a name that would break the line
    (folder / "x.png").mkdir()
    (folder / "walk.gif").mkdir()
    (folder / "old-walk").mkdir()
    (folder / "old-walk" / "frame_001.png").write_bytes(png())
    return folder


@pytest.fixture
def work(tmp_path) -> Path:
    """The current folder of the CLI run: whatever appears in it is a file left behind."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def run_cli(argv: list, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "SDSTUDIO_OUTPUT_DIR"}
    environment |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "sdstudio", *argv], capture_output=True, cwd=cwd, env=environment,
                          timeout=300)


def assert_refused(done: subprocess.CompletedProcess, match: str, work: Path, before: set[str]) -> None:
    stderr = done.stderr.decode("utf-8", "replace")
    lines = stderr.strip().splitlines()
    assert done.returncode == 2, stderr
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert match.lower() in lines[0].lower(), lines[0]
    assert done.stdout == b""
    assert {str(p.relative_to(work)) for p in work.rglob("*")} == before  # no file left, not even outputs/


def gen(*extra) -> list:
    return ["generate", "a red apple", "--steps", "1", *extra]


def interp(files: Path, *extra) -> list:
    return ["interpolate", "--from", files / "good.png", "--to", files / "good.png", "--frames", "3", *extra]


# (id, argv builder (files folder -> argv), extra env (files -> env) or None, what the line must say)
CASES = [
    # outputs that cannot be written, checked before the model is even loaded
    ("out-is-a-folder", lambda f: gen("--out", f / "x.png"), None, "is a folder"),
    ("out-under-proc", lambda f: gen("--out", "/proc/x.png"), None, "no new files can be made in '/proc'"),
    ("out-under-proc-self", lambda f: gen("--out", "/proc/self/deep/x.png"), None, "no new files can be made"),
    ("out-under-sys", lambda f: gen("--out", "/sys/kernel/x.webp"), None, "no new files can be made"),
    ("out-in-a-file", lambda f: gen("--out", f / "a-file" / "x.png"), None, "is a file, not a folder"),
    ("out-device", lambda f: gen("--out", "/dev/full"), None, ".png"),
    ("out-odd-suffix", lambda f: gen("--out", "picture.bmp"), None, ".png"),
    ("out-name-too-long", lambda f: gen("--out", "n" * 250 + ".png"), None, "too long"),
    ("out-jpeg-prompt-too-long", lambda f: ["generate", "word " * 8000, "--out", "x.jpg"], None, "too long to store"),
    ("output-dir-is-a-file", lambda f: gen(), lambda f: {"SDSTUDIO_OUTPUT_DIR": str(f / "a-file")}, "is a file"),
    ("output-dir-under-proc", lambda f: gen(), lambda f: {"SDSTUDIO_OUTPUT_DIR": "/proc/outputs"}, "no new files"),
    ("previews-is-a-file", lambda f: gen("--out", "x.png", "--previews", f / "a-file"), None, "--previews"),
    ("previews-under-sys", lambda f: gen("--out", "x.png", "--previews", "/sys/previews"), None, "--previews"),
    # numbers and text
    ("seed-past-the-largest", lambda f: gen("--seed", "9223372036854775807", "--batch", "2"), None, "largest seed"),
    ("seed-negative", lambda f: gen("--seed", "-1"), None, "seed must be between"),
    ("seed-huge", lambda f: gen("--seed", "9" * 40), None, "seed must be between"),
    ("cfg-nan", lambda f: gen("--cfg", "nan"), None, "cfg scale"),
    ("cfg-inf", lambda f: gen("--cfg", "inf"), None, "cfg scale"),
    ("steps-huge", lambda f: gen("--steps", "100000000"), None, "steps"),
    ("steps-not-a-number", lambda f: gen("--steps", "inf"), None, "invalid int"),
    ("width-zero", lambda f: gen("--width", "0"), None, "multiple of 8"),
    ("size-huge", lambda f: gen("--width", "65536", "--height", "65536"), None, "too large"),
    ("batch-zero", lambda f: gen("--batch", "0"), None, "batch"),
    ("prompt-invalid-utf8", lambda f: ["generate", PROMPT_BYTES, "--out", "x.png"], None, "not valid utf-8"),
    ("negative-invalid-utf8", lambda f: gen("--negative", b"\xc3", "--out", "x.png"), None, "not valid utf-8"),
    # input images that are not images
    *[(f"image-{name}", lambda f, name=name: ["img2img", "x", "--image", f / name, "--out", "x.png"], None,
       "image") for name in broken_images()],
    ("image-is-a-folder", lambda f: ["img2img", "x", "--image", f / "x.png"], None, "is a folder"),
    ("mask-is-text", lambda f: ["inpaint", "x", "--image", f / "good.png", "--mask", f / "text.png"], None, "mask"),
    ("info-truncated", lambda f: ["info", f / "truncated.png"], None, "not an image"),
    ("info-bomb", lambda f: ["info", f / "bomb.png"], None, "too large"),
    # checkpoints refused from their header
    *[(f"model-{name}", lambda f, name=name: gen("--out", "x.png", "--model", f / name), None, name)
      for name in hostile_checkpoints()],
    ("model-missing", lambda f: gen("--model", "/nonexistent/model.safetensors"), None, "does not exist"),
    ("model-name-with-newline", lambda f: gen("--model", f / "line\nbreak.safetensors"), None, "line\\nbreak"),
    # animations
    *[(f"fps-{fps}", lambda f, fps=fps: interp(f, "--fps", fps, "--out", "walk.gif"), None, "--fps")
      for fps in ("0", "nan", "-2", "inf", "-inf", "1e9")],
    *[(f"frames-{n}", lambda f, n=n: interp(f, "--frames", n, "--out", "walk.gif"), None, "--frames")
      for n in ("10000", "1001", "1", "-3")],
    ("interp-out-dir-is-a-file", lambda f: interp(f, "--out-dir", f / "a-file"), None, "is a file"),
    ("interp-out-is-a-folder", lambda f: interp(f, "--out", f / "walk.gif"), None, "is a folder"),
    ("interp-out-dir-holds-a-walk", lambda f: interp(f, "--out-dir", f / "old-walk"), None, "already holds a walk"),
    ("interp-out-under-proc", lambda f: interp(f, "--out", "/proc/walk.mp4"), None, "no new files"),
    ("interp-odd-suffix", lambda f: interp(f, "--out", "walk.avi"), None, ".gif"),
    ("interp-from-broken", lambda f: ["interpolate", "--from", f / "truncated.png", "--to", f / "good.png",
                                      "--out", "walk.gif"], None, "not an image"),
]


@pytest.mark.parametrize(("build", "env", "match"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_hostile_input_is_one_line_and_exit_2(files, work, build, env, match):
    before = {str(p.relative_to(work)) for p in work.rglob("*")}
    argv = [a if isinstance(a, bytes) else str(a) for a in build(files)]
    done = run_cli(argv, work, env(files) if env else None)
    assert_refused(done, match, work, before)


UNREADABLE = {"a1111-inf.png": "Steps, CFG scale, Seed, Size", "comfy-denoise-abc.png": "Steps",
              "comfy-huge-int.png": "Seed"}


@pytest.mark.parametrize("name", list(odd_metadata_images()))
def test_info_on_hostile_metadata_shows_what_it_can_in_one_process(files, work, name):
    """`info` never fails on metadata: it prints what it has (exit 0, and one line naming what is
    unreadable, if anything) or says there is none (exit 1)."""
    done = run_cli(["info", str(files / name)], work)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode in (0, 1) and "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == (1 if done.returncode or name in UNREADABLE else 0), stderr
    if name in UNREADABLE:
        assert stderr.strip() == f"sdstudio: unreadable in this image: {UNREADABLE[name]}"
    assert list(work.iterdir()) == []


def test_a_checkpoint_with_a_few_unet_keys_is_refused_before_diffusers(files, work):
    """The one case that needs torch to tell: a real-looking header that is only a fragment of SD."""
    import torch
    from safetensors.torch import save_file

    unet = "model.diffusion_model."
    fragment = files / "fragment.safetensors"
    save_file({unet + "input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
               unet + "out.2.weight": torch.zeros(4, 320, 3, 3),
               "first_stage_model.decoder.conv_out.weight": torch.zeros(3, 128, 3, 3),
               "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": torch.zeros(77, 768)},
              str(fragment))
    done = run_cli(gen("--out", "x.png", "--model", fragment), work)
    assert_refused(done, "not a complete SD1 checkpoint: it has only 2 of its ~686 UNet weights", work, set())
