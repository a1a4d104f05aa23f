"""Write a sequence of frames as GIF, WebP, MP4 or a PNG sequence, atomically.

GIF and WebP go through Pillow; MP4 through imageio with the ffmpeg binary that ships inside the
imageio-ffmpeg wheel (nothing is downloaded). Every file is written to a temp name and renamed.
Options are checked before any frame is computed: a frame count with an upper bound (10,000
frames ran for ten minutes) and a frame rate that is a finite positive number (0 divided by
zero, NaN and negatives broke ffmpeg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from sdstudio.errors import InputError
from sdstudio.io.atomic import atomic_path, write_new, write_new_via_path
from sdstudio.io.images import numbered_names
from sdstudio.io.writable import check_output_file, check_output_folder

ANIMATION_SUFFIXES = (".gif", ".webp", ".mp4")
MIN_FRAMES = 2
MAX_FRAMES = 1000  # about 80 s at 12 fps; a longer walk is several runs
MAX_FPS = 120.0
FRAME_NAME = "{prefix}_{index:03d}.png"


def check_animation_path(path: Path) -> None:
    """Fail early (before any work) on an output name we cannot write."""
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        raise InputError(f"cannot write '{path.name}': use a .gif, .webp or .mp4 name, or --out-dir for PNG frames")
    check_output_file(path, "--out", ANIMATION_SUFFIXES)


def check_frames_folder(folder: Path, prefix: str = "frame") -> None:
    """`folder` can take a new PNG sequence: writable, and not holding one already (it would be
    mixed with, or replace, an earlier walk's frames)."""
    check_output_folder(folder, "--out-dir")
    first = folder / FRAME_NAME.format(prefix=prefix, index=1)
    if first.exists():
        raise InputError(f"--out-dir '{folder}' already holds a walk ({first.name}, ...); choose a new or empty folder")


def check_animation_options(frames: int, fps: float) -> None:
    """A frame count in [2, 1000] and a frame rate in (0, 120]: one line each, before any compute."""
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise InputError(f"--frames must be between {MIN_FRAMES} and {MAX_FRAMES}, not {frames}")
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise InputError(f"--fps must be a number above 0 and at most {MAX_FPS:g}, not {fps:g}")


def write_animation(frames: Sequence[Image.Image], path: Path, fps: float = 12.0, *, overwrite: bool = True) -> Path:
    """Frames -> one animated file, chosen by the suffix; loops forever (GIF/WebP). Returns where
    it went: with `overwrite=False` (the CLI) an existing file is kept and `walk-1.gif` is written."""
    check_animation_path(path)
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise InputError(f"the frame rate must be above 0 and at most {MAX_FPS:g}, not {fps:g}")
    if not frames:
        raise InputError(f"no frames to write to '{path.name}'")
    frames = [frame.convert("RGB") for frame in frames]
    suffix = path.suffix.lower()
    duration_ms = max(1, round(1000 / fps))
    if suffix == ".mp4":
        if overwrite:
            with atomic_path(path) as temp:
                _write_mp4(frames, temp, fps)
            return path
        return write_new_via_path(path.parent, numbered_names(path), lambda temp: _write_mp4(frames, temp, fps),
                                  path.suffix)
    options = {"save_all": True, "append_images": frames[1:], "duration": duration_ms, "loop": 0}
    image_format = "GIF" if suffix == ".gif" else "WEBP"
    if image_format == "WEBP":
        options["quality"] = 95

    def save(target: Path | BinaryIO) -> None:
        frames[0].save(target, format=image_format, **options)

    if overwrite:
        with atomic_path(path) as temp:
            save(temp)
        return path
    return write_new(path.parent, numbered_names(path), save)


def _write_mp4(frames: Sequence[Image.Image], path: Path, fps: float) -> None:
    """H.264 through the ffmpeg binary inside the imageio-ffmpeg wheel; yuv420p plays everywhere
    but needs even sides, so odd sizes are padded by repeating the edge."""
    import imageio_ffmpeg

    arrays = [np.asarray(frame) for frame in frames]
    height, width = arrays[0].shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    writer = imageio_ffmpeg.write_frames(
        str(path), (width + width % 2, height + height % 2), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
        macro_block_size=1, output_params=["-f", "mp4"],
    )
    writer.send(None)  # start ffmpeg
    try:
        for array in arrays:
            writer.send(np.ascontiguousarray(np.pad(array, pad, mode="edge")))
    finally:
        writer.close()


def write_frames(frames: Sequence[Image.Image], folder: Path, prefix: str = "frame", *,
                 overwrite: bool = True) -> list[Path]:
    """Frames -> folder/frame_001.png, frame_002.png, ... (each written atomically). With
    `overwrite=False` (the CLI, after `check_frames_folder`) none replaces a file: a name taken
    meanwhile by another writer is an InputError, not a lost frame."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames, start=1):
        name = FRAME_NAME.format(prefix=prefix, index=index)
        if overwrite:
            with atomic_path(folder / name) as temp:
                frame.save(temp, format="PNG")
            paths.append(folder / name)
            continue
        try:
            paths.append(write_new(folder, [name], lambda handle, frame=frame: frame.save(handle, format="PNG")))
        except FileExistsError as error:
            raise InputError(f"'{folder / name}' appeared while writing; choose a new or empty folder") from error
    return paths
