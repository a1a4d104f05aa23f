"""Images keep their parameters in every format; bad files give one clear line."""

import os

import numpy as np
import pytest
from PIL import Image

from sdstudio.errors import InputError
from sdstudio.io.atomic import atomic_path
from sdstudio.io.images import (
    load_image,
    load_mask,
    next_output_path,
    read_parameters,
    read_parameters_text,
    save_image,
)

TEXT = "a cat 🐱 猫, sitting\nNegative prompt: dog\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 16x16"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_parameters_survive_every_format(tmp_path, suffix):
    path = save_image(Image.new("RGB", (16, 16), (10, 200, 30)), tmp_path / f"out{suffix}", TEXT)
    assert read_parameters_text(path) == TEXT
    parsed = read_parameters(path)
    assert parsed.prompt == "a cat 🐱 猫, sitting" and parsed.seed == 9
    assert load_image(path).size == (16, 16)


def test_png_without_parameters_and_unsupported_suffix(tmp_path):
    path = save_image(Image.new("RGB", (8, 8)), tmp_path / "plain.png")
    assert read_parameters_text(path) is None
    with pytest.raises(InputError, match=r"\.png, \.jpg or \.webp"):
        save_image(Image.new("RGB", (8, 8)), tmp_path / "x.tiff")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "image.png"
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert not target.exists() and os.listdir(tmp_path / "sub") == []
    with atomic_path(target) as temp:
        temp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and os.listdir(tmp_path / "sub") == ["image.png"]


def test_output_numbering_skips_what_exists(tmp_path):
    first = next_output_path(tmp_path / "outputs", 77)
    assert first.name == "00001-77.png"
    first.write_bytes(b"")
    (tmp_path / "outputs" / "00007-1.png").write_bytes(b"")
    assert next_output_path(tmp_path / "outputs", 5).name == "00008-5.png"


def test_bad_images_are_one_line_errors(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    for path, message in ((tmp_path / "missing.png", "does not exist"), (tmp_path, "is a folder"),
                          (text, "not an image"), (truncated, "not an image")):
        with pytest.raises(InputError, match=message) as error:
            load_image(path)
        assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="mask"):
        load_mask(text)


def test_mask_painted_as_transparency_uses_alpha(tmp_path):
    mask = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    mask.putpixel((2, 3), (255, 0, 0, 255))
    mask.save(tmp_path / "mask.png")
    loaded = load_mask(tmp_path / "mask.png")
    assert loaded.mode == "L" and loaded.getpixel((2, 3)) == 255 and loaded.getpixel((0, 0)) == 0


def test_transparent_image_loads_on_white(tmp_path):
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").getpixel((0, 0)) == (255, 255, 255)
