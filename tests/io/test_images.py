"""Images keep their parameters in every format; bad files give one clear line."""

import os

import numpy as np
import pytest
from PIL import Image

from sdstudio.errors import InputError
from sdstudio.io.atomic import atomic_path
from sdstudio.io.images import (
    EXIF_IFD,
    EXIF_USER_COMMENT,
    check_parameters_fit,
    load_image,
    load_mask,
    next_output_path,
    read_parameters,
    read_parameters_text,
    save_image,
    save_output,
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


HARD_PROMPTS = [
    "a replacement char \ufffd in the middle",
    "a NUL\x00byte and \x00\x00 two more",
    "猫と犬、桜の木の下で",  # CJK only: no ASCII to tell the byte order by
    "🐱🐶🦊 emoji only",
    "\ufffd",
    "mixed: café ☕ 雪 ❄️ \x00 \ufffd end",
]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
@pytest.mark.parametrize("prompt", HARD_PROMPTS, ids=range(len(HARD_PROMPTS)))
def test_hard_prompts_round_trip_in_every_format(tmp_path, suffix, prompt):
    text = f"{prompt}\nSteps: 5, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 16x16"
    path = save_image(Image.new("RGB", (16, 16)), tmp_path / f"out{suffix}", text)
    assert read_parameters_text(path) == text
    assert read_parameters(path).prompt == prompt


def test_little_endian_user_comment_from_other_tools_reads_right(tmp_path):
    text = "a cat, Steps: 5"
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[EXIF_USER_COMMENT] = b"UNICODE\x00" + text.encode("utf-16-le")
    Image.new("RGB", (8, 8)).save(tmp_path / "le.jpg", exif=exif.tobytes())
    assert read_parameters_text(tmp_path / "le.jpg") == text


def test_undecodable_prompt_text_is_saved_with_replacement_chars(tmp_path):
    path = save_image(Image.new("RGB", (8, 8)), tmp_path / "x.png", "bad \udcff byte")
    assert read_parameters_text(path) == "bad \ufffd byte"


def test_too_long_for_jpeg_is_refused_before_compute(tmp_path):
    long_text = "word " * 8000
    check_parameters_fit(tmp_path / "ok.png", long_text)
    with pytest.raises(InputError, match="too long to store") as error:
        check_parameters_fit(tmp_path / "x.jpg", long_text)
    assert "\n" not in str(error.value)
    path = save_image(Image.new("RGB", (8, 8)), tmp_path / "long.webp", long_text)
    assert read_parameters_text(path) == long_text.strip("\n")


def test_exif_comment_of_the_wrong_type_is_no_metadata(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[EXIF_USER_COMMENT] = 12345
    Image.new("RGB", (8, 8)).save(tmp_path / "odd.jpg", exif=exif.tobytes())
    assert read_parameters(tmp_path / "odd.jpg") is None
    assert read_parameters_text(tmp_path / "odd.jpg") is None


def test_image_claiming_a_huge_size_is_one_line(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    with pytest.raises(InputError, match="too large to open safely") as error:
        load_image(tmp_path / "bomb.png")
    assert "\n" not in str(error.value)


def test_save_output_numbers_past_the_highest(tmp_path):
    (tmp_path / "00041-5.png").write_bytes(b"")
    path = save_output(Image.new("RGB", (8, 8)), tmp_path, 9, "x")
    assert path.name == "00042-9.png" and read_parameters_text(path) == "x"
