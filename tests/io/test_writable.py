"""Outputs that cannot be written are one clear line before any compute, and the check writes nothing."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from sdstudio.errors import InputError
from sdstudio.io.animation import (
    MAX_FRAMES,
    check_animation_options,
    check_animation_path,
    check_frames_folder,
    write_animation,
    write_frames,
)
from sdstudio.io.writable import check_output_file, check_output_folder


def one_line(call, *args, match: str) -> str:
    with pytest.raises(InputError, match=match) as error:
        call(*args)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_an_existing_folder_named_like_an_image(tmp_path):
    (tmp_path / "x.png").mkdir()
    one_line(check_output_file, tmp_path / "x.png", match="is a folder; give a file name inside it")


@pytest.mark.parametrize("path", ["/proc/x.png", "/proc/self/x.png", "/sys/x.png", "/sys/kernel/new/deeper/x.png"])
def test_pseudo_filesystems_are_not_writable_even_for_root(path):
    one_line(check_output_file, path, match="cannot write")


def test_unwritable_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through permission bits; /proc and /sys cover this for root")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    one_line(check_output_file, locked / "x.png", match="cannot write")


def test_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "outputs").write_text("I am a file")
    one_line(check_output_folder, tmp_path / "outputs", "SDSTUDIO_OUTPUT_DIR", match="is a file, not a folder")
    one_line(check_output_folder, tmp_path / "outputs" / "sub", "--previews", match="is a file, not a folder")
    one_line(check_output_file, tmp_path / "outputs" / "x.png", match="is a file, not a folder")


def test_device_files_and_long_names_are_refused(tmp_path):
    one_line(check_output_file, "/dev/full", "--out", None, match="not a regular file")
    one_line(check_output_file, tmp_path / ("n" * 250 + ".png"), match="file name is too long")


def test_good_outputs_pass_and_the_check_creates_nothing(tmp_path):
    (tmp_path / "taken.png").write_bytes(b"earlier work")
    check_output_file(tmp_path / "taken.png")  # fine: the new image will be taken-1.png
    check_output_file(tmp_path / "new" / "deeper" / "x.webp")
    check_output_folder(tmp_path / "outputs")
    assert sorted(os.listdir(tmp_path)) == ["taken.png"]


def test_interpolate_outputs(tmp_path):
    (tmp_path / "walk.gif").mkdir()
    one_line(check_animation_path, tmp_path / "walk.gif", match="is a folder")
    one_line(check_animation_path, tmp_path / "walk.avi", match=r"\.gif, \.webp or \.mp4")
    (tmp_path / "frames").write_text("a file")
    one_line(check_frames_folder, tmp_path / "frames", match="is a file, not a folder")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "frame_001.png").write_bytes(b"")
    one_line(check_frames_folder, tmp_path / "old", match="already holds a walk")


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf"), float("-inf"), 1e9])
def test_frame_rates_that_are_not_a_rate(fps):
    one_line(check_animation_options, 16, fps, match="--fps must be a number above 0")


@pytest.mark.parametrize("frames", [-5, 0, 1, MAX_FRAMES + 1, 10_000])
def test_frame_counts_out_of_range(frames):
    one_line(check_animation_options, frames, 12.0, match=f"--frames must be between 2 and {MAX_FRAMES}")


def test_sensible_options_pass():
    check_animation_options(2, 0.5)
    check_animation_options(MAX_FRAMES, 120)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".mp4"])
def test_animation_onto_an_existing_file_takes_a_new_name(tmp_path, suffix):
    frames = [Image.new("RGB", (16, 16), (i * 60, 0, 0)) for i in range(3)]
    target = tmp_path / f"walk{suffix}"
    target.write_bytes(b"an earlier walk")
    written = write_animation(frames, target, fps=12, overwrite=False)
    assert written.name == f"walk-1{suffix}" and written.stat().st_size > 0
    assert target.read_bytes() == b"an earlier walk"
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, written.name])


def test_cli_frames_never_replace_files(tmp_path):
    frames = [Image.new("RGB", (8, 8)) for _ in range(2)]
    written = write_frames(frames, tmp_path / "walk", overwrite=False)
    assert [p.name for p in written] == ["frame_001.png", "frame_002.png"]
    (tmp_path / "walk" / "frame_001.png").write_bytes(b"mine")
    with pytest.raises(InputError, match="appeared while writing"):
        write_frames(frames, tmp_path / "walk", overwrite=False)
    assert (tmp_path / "walk" / "frame_001.png").read_bytes() == b"mine"
    write_frames(frames, tmp_path / "walk")  # the app's export, into a folder the person chose again
    assert (tmp_path / "walk" / "frame_001.png").read_bytes() != b"mine"
