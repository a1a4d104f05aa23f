"""The CLI contract: outputs, metadata, previews, and one-line errors with exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sdstudio import PROJECT_ROOT
from sdstudio.cli import main


def open_image(path) -> Image.Image:
    """A fully loaded image with its file closed (no ResourceWarning)."""
    with Image.open(path) as image:
        image.load()
        return image


def run(*argv: str) -> int:
    return main([str(a) for a in argv])


def gen(model, out, *extra):
    return run("generate", "a red apple", "--model", model, "--steps", "3", "--width", "64", "--height", "64",
               "--seed", "5", "--out", out, *extra)


def test_generate_writes_png_with_a1111_parameters(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "apple.png"
    assert gen(tiny_model_dir, out, "--negative", "blurry", "--sampler", "DPM++ 2M Karras", "--cfg", "6.5") == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = open_image(out)
    assert image.size == (64, 64)
    text = image.text["parameters"]
    lines = text.splitlines()
    assert lines[0] == "a red apple"
    assert lines[1] == "Negative prompt: blurry"
    assert "Steps: 3, Sampler: DPM++ 2M Karras" in lines[2] or "Sampler: DPM++ 2M" in lines[2]
    assert "CFG scale: 6.5" in lines[2] and "Seed: 5" in lines[2] and "Size: 64x64" in lines[2]
    assert "Model: tiny-sd" in lines[2]


def test_same_seed_same_pixels(tiny_model_dir, tmp_path):
    gen(tiny_model_dir, tmp_path / "a.png")
    gen(tiny_model_dir, tmp_path / "b.png")
    assert np.array_equal(np.asarray(open_image(tmp_path / "a.png")), np.asarray(open_image(tmp_path / "b.png")))


def test_previews_writes_every_step(tiny_model_dir, tmp_path):
    previews = tmp_path / "steps"
    assert gen(tiny_model_dir, tmp_path / "x.png", "--previews", previews) == 0
    names = sorted(p.name for p in previews.iterdir())
    assert names == ["step_001.png", "step_002.png", "step_003.png"]
    assert open_image(previews / "step_002.png").size == (64, 64)


def test_batch_writes_numbered_files_with_consecutive_seeds(tiny_model_dir, tmp_path):
    assert gen(tiny_model_dir, tmp_path / "cat.png", "--batch", "2") == 0
    seeds = [open_image(tmp_path / f"cat-{i}.png").text["parameters"].split("Seed: ")[1].split(",")[0] for i in (1, 2)]
    assert seeds == ["5", "6"]


def test_default_output_goes_to_numbered_outputs_folder(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SDSTUDIO_OUTPUT_DIR", str(tmp_path / "outputs"))
    run("generate", "x", "--model", tiny_model_dir, "--steps", "1", "--width", "64", "--height", "64", "--seed", "77")
    run("generate", "x", "--model", tiny_model_dir, "--steps", "1", "--width", "64", "--height", "64", "--seed", "78")
    names = sorted(p.name for p in (tmp_path / "outputs").iterdir())
    assert names == ["00001-77.png", "00002-78.png"]


def make_image(path: Path, size=(64, 64)) -> Path:
    Image.new("RGB", size, (200, 40, 40)).save(path)
    return path


def test_img2img_and_info(tiny_model_dir, tmp_path, capsys):
    source = make_image(tmp_path / "in.png", (72, 64))
    out = tmp_path / "out.png"
    assert run("img2img", "a cat", "--image", source, "--strength", "0.5", "--model", tiny_model_dir,
               "--steps", "4", "--seed", "1", "--out", out) == 0
    assert open_image(out).size == (72, 64)
    capsys.readouterr()
    assert run("info", out) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("a cat\n") and "Denoising strength: 0.5" in printed


def test_inpaint_keeps_pixels_outside_the_mask(tiny_model_dir, tmp_path):
    source = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(source)
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((20, 20, 40, 40), fill=255)
    mask.save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    assert run("inpaint", "a cat", "--image", source, "--mask", tmp_path / "mask.png", "--feather", "0",
               "--model", tiny_model_dir, "--steps", "3", "--out", out) == 0
    before, after = np.asarray(open_image(source)), np.asarray(open_image(out).convert("RGB"))
    outside = np.asarray(mask) == 0
    assert np.array_equal(before[outside], after[outside])
    assert not np.array_equal(before[~outside], after[~outside])


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".mp4"])
def test_interpolate_writes_an_animation(tiny_model_dir, tmp_path, capsys, suffix):
    a, b = make_image(tmp_path / "a.png"), tmp_path / "b.png"
    Image.new("RGB", (64, 64), (20, 60, 220)).save(b)
    out = tmp_path / f"walk{suffix}"
    assert run("interpolate", "--from", a, "--to", b, "--frames", "5", "--model", tiny_model_dir, "--out", out) == 0
    if suffix == ".mp4":
        import imageio_ffmpeg

        decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "rawvideo",
                                  "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        assert len(decoded) == 5 * 64 * 64 * 3
    else:
        with Image.open(out) as animation:
            assert animation.n_frames == 5 and animation.size == (64, 64)


def test_interpolate_with_a_vae_encodes_and_decodes_with_it(tiny_model_dir, tmp_path):
    from tests.tiny_models import write_vae

    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png", (80, 80))
    vae = write_vae(tmp_path / "ft-mse.safetensors")
    for name, extra in (("own", []), ("vae", ["--vae", vae])):
        assert run("interpolate", "--from", a, "--to", b, "--frames", "2", "--pacing", "uniform", "--model",
                   tiny_model_dir, "--out-dir", tmp_path / name, *extra) == 0
    own, other = (np.asarray(open_image(tmp_path / name / "frame_001.png"), dtype=np.int16) for name in ("own", "vae"))
    assert np.abs(own - other).max() > 10
    assert run("interpolate", "--from", a, "--to", b, "--model", tiny_model_dir, "--out-dir", tmp_path / "x",
               "--vae", tmp_path / "missing.safetensors") == 2
    assert not (tmp_path / "x").exists()


def test_interpolate_to_a_folder_of_frames(tiny_model_dir, tmp_path):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png", (80, 80))
    assert run("interpolate", "--from", a, "--to", b, "--frames", "4", "--mode", "lerp", "--model", tiny_model_dir,
               "--out-dir", tmp_path / "frames") == 0
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"frame_00{i}.png" for i in range(1, 5)]


def test_interpolate_uniform_pacing_matches_the_evenly_paced_walk_at_the_ends(tiny_model_dir, tmp_path):
    a, b = make_image(tmp_path / "a.png"), make_image(tmp_path / "b.png", (80, 80))
    for pacing in ("uniform", "even"):
        assert run("interpolate", "--from", a, "--to", b, "--frames", "3", "--pacing", pacing, "--model",
                   tiny_model_dir, "--out-dir", tmp_path / pacing) == 0
    for name in ("frame_001.png", "frame_003.png"):  # both walks start and end on A's and B's reconstructions
        assert np.array_equal(np.asarray(open_image(tmp_path / "uniform" / name)),
                              np.asarray(open_image(tmp_path / "even" / name)))


def test_models_lists_name_kind_path(tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("SDSTUDIO_MODEL_DIRS", str(tiny_model_dir.parent))
    assert run("models") == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert ["tiny-sd", "diffusers", str(tiny_model_dir)] in rows


BAD_INPUTS = [
    (["generate", "x", "--width", "65"], "multiple of 8"),
    (["generate", "x", "--steps", "0"], "steps"),
    (["generate", "x", "--sampler", "Magic"], "unknown sampler"),
    (["generate", "x", "--model", "/nonexistent/model.safetensors"], "model"),
    (["img2img", "x", "--image", "/nonexistent.png"], "nonexistent.png"),
    (["generate", "x", "--out", "picture.bmp2"], ".png"),
    (["generate", "x", "--steps", "many"], "invalid int"),
    (["interpolate", "--from", "a.png", "--to", "b.png", "--out", "walk.avi"], ".gif"),
    (["info", "/nonexistent.png"], "nonexistent.png"),
    (["frobnicate"], "invalid choice"),
]


def exit_code(argv) -> int:
    """The exit code, whether main returns it or argparse exits with it."""
    try:
        return run(*argv)
    except SystemExit as exit_:
        return exit_.code


@pytest.mark.parametrize(("argv", "expected"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line(argv, expected, tiny_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "--model" not in argv and argv[0] in ("generate", "img2img"):
        argv = [*argv, "--model", str(tiny_model_dir)]
    assert exit_code(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected.lower() in lines[0].lower()
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even an outputs/ folder


def test_corrupt_checkpoint_and_non_image_mask_exit_2_in_a_real_process(tiny_model_dir, tmp_path):
    corrupt = tmp_path / "broken.safetensors"
    corrupt.write_bytes(b"\x00not a safetensors file" * 10)
    not_image = tmp_path / "mask.png"
    not_image.write_text("this is text")
    image = make_image(tmp_path / "in.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for argv in (
        ["generate", "x", "--model", str(corrupt), "--out", str(tmp_path / "o1.png")],
        ["inpaint", "x", "--image", str(image), "--mask", str(not_image), "--model", str(tiny_model_dir),
         "--out", str(tmp_path / "o2.png")],
    ):
        done = subprocess.run([sys.executable, "-m", "sdstudio", *argv], capture_output=True, text=True, env=env,
                              cwd=PROJECT_ROOT, timeout=300)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "o1.png").exists() and not (tmp_path / "o2.png").exists()
