"""The CLI never writes over a file: `--out` onto an existing one takes the next `name-N` and prints
where the image went; every seed it writes reproduces its image."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sdstudio.cli import main


def run(*argv) -> int:
    return main([str(a) for a in argv])


def gen(model, out, *extra) -> int:
    return run("generate", "a red apple", "--model", model, "--steps", "2", "--width", "64", "--height", "64",
               "--seed", "5", "--out", out, *extra)


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def written_seed(path) -> int:
    with Image.open(path) as image:
        return int(image.text["parameters"].split("Seed: ")[1].split(",")[0])


def test_out_onto_an_existing_file_writes_name_dash_1(tiny_model_dir, tmp_path, capsys):
    target = tmp_path / "apple.png"
    target.write_bytes(b"yesterday's best image")
    assert gen(tiny_model_dir, target) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "apple-1.png")
    assert target.read_bytes() == b"yesterday's best image"
    assert gen(tiny_model_dir, target, "--batch", "2") == 0  # a batch continues after what is there
    assert capsys.readouterr().out.split() == [str(tmp_path / "apple-2.png"), str(tmp_path / "apple-3.png")]


def test_every_written_seed_reproduces_its_image(tiny_model_dir, tmp_path, capsys):
    assert gen(tiny_model_dir, tmp_path / "batch.png", "--batch", "2", "--seed", "9223372036854775805") == 0
    second = tmp_path / "batch-2.png"
    assert written_seed(second) == 9223372036854775806
    assert gen(tiny_model_dir, tmp_path / "again.png", "--seed", written_seed(second)) == 0
    assert np.array_equal(pixels(second), pixels(tmp_path / "again.png"))


def test_interpolate_keeps_an_existing_animation(tiny_model_dir, tmp_path, capsys):
    Image.new("RGB", (64, 64), (200, 20, 20)).save(tmp_path / "a.png")
    Image.new("RGB", (64, 64), (20, 20, 200)).save(tmp_path / "b.png")
    (tmp_path / "walk.gif").write_bytes(b"an earlier walk")
    assert run("interpolate", "--from", tmp_path / "a.png", "--to", tmp_path / "b.png", "--frames", "3",
               "--model", tiny_model_dir, "--out", tmp_path / "walk.gif") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "walk-1.gif")
    assert (tmp_path / "walk.gif").read_bytes() == b"an earlier walk"
    with Image.open(tmp_path / "walk-1.gif") as animation:
        assert animation.n_frames == 3
