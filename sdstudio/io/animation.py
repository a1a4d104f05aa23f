"""Write a sequence of frames as GIF, WebP, MP4 or a PNG sequence, atomically.

GIF and WebP go through Pillow; MP4 through imageio with the ffmpeg binary that ships inside the
imageio-ffmpeg wheel (nothing is downloaded). Every file is written to a temp name and renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from sdstudio.errors import InputError
from sdstudio.io.atomic import atomic_path

ANIMATION_SUFFIXES = (".gif", ".webp", ".mp4")


def check_animation_path(path: Path) -> None:
    """Fail early (before any work) on an output name we cannot write."""
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        raise InputError(f"cannot write '{path.name}': use a .gif, .webp or .mp4 name, or --out-dir for PNG frames")


def write_animation(frames: Sequence[Image.Image], path: Path, fps: float = 12.0) -> Path:
    """Frames -> one animated file, chosen by the suffix; loops forever (GIF/WebP)."""
    check_animation_path(path)
    frames = [frame.convert("RGB") for frame in frames]
    suffix = path.suffix.lower()
    duration_ms = round(1000 / fps)
    with atomic_path(path) as temp:
        if suffix == ".mp4":
            _write_mp4(frames, temp, fps)
        elif suffix == ".gif":
            frames[0].save(temp, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)
        else:
            frames[0].save(
                temp, format="WEBP", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, quality=95
            )
    return path


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


def write_frames(frames: Sequence[Image.Image], folder: Path, prefix: str = "frame") -> list[Path]:
    """Frames -> folder/frame_001.png, frame_002.png, ... (each written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames, start=1):
        target = folder / f"{prefix}_{index:03d}.png"
        with atomic_path(target) as temp:
            frame.save(temp, format="PNG")
        paths.append(target)
    return paths
