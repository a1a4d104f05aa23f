"""What the exploration tests (the job handlers and the explorer panels) both need to check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from sdstudio.bridge.qimage import qimage_to_pil


def pixels(image: QImage | Image.Image) -> np.ndarray:
    if isinstance(image, QImage):
        image = qimage_to_pil(image)
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def reconstruction(engine, image: QImage | Image.Image, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """The VAE round trip of an image, computed here (call it while the engine thread is idle)."""
    from sdstudio.engine.interpolation import fit_image
    from sdstudio.engine.latents import decode, encode

    if isinstance(image, QImage):
        image = qimage_to_pil(image)
    vae = engine.model.vae
    return pixels(decode(vae, encode(vae, fit_image(image, size)))[0])


def animation_frames(path: Path, size: tuple[int, int] = (64, 64)) -> int:
    """How many frames of `size` (w, h) a written animation holds, read back as a player would."""
    if path.suffix == ".mp4":
        import imageio_ffmpeg

        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo"]
        raw = subprocess.run([*command, "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        frame_bytes = size[0] * size[1] * 3
        assert len(raw) % frame_bytes == 0
        return len(raw) // frame_bytes
    import imageio.v3 as iio

    frames = list(iio.imiter(path, plugin="pillow"))  # imread(index=None) reads one frame of a WebP
    assert all(frame.shape[:2] == (size[1], size[0]) for frame in frames)
    return len(frames)
