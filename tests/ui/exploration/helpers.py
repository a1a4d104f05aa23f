"""Images and pixel checks the exploration UI tests share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from sdstudio.qimage import pil_to_qimage, qimage_to_pil


def noise_image(seed: int = 0, size: tuple[int, int] = (64, 64)) -> QImage:
    rng = np.random.default_rng(seed)
    return pil_to_qimage(Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)))


def flat_image(color: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> QImage:
    return pil_to_qimage(Image.new("RGB", size, color))


def pixels(image: QImage | Image.Image) -> np.ndarray:
    if isinstance(image, QImage):
        image = qimage_to_pil(image)
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def reconstruction(engine, image: QImage, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """The VAE round trip of an image, computed here (call it while the engine thread is idle)."""
    from sdstudio.engine.interpolation import fit_image
    from sdstudio.engine.latents import decode, encode

    vae = engine.model.vae
    return pixels(decode(vae, encode(vae, fit_image(qimage_to_pil(image), size)))[0])


def animation_frames(path: Path, size: tuple[int, int] = (64, 64)) -> int:
    """How many frames of `size` (w, h) a written animation holds, read back as a player would."""
    if path.suffix == ".mp4":
        import subprocess

        import imageio_ffmpeg

        raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        frame_bytes = size[0] * size[1] * 3
        assert len(raw) % frame_bytes == 0
        return len(raw) // frame_bytes
    import imageio.v3 as iio

    frames = list(iio.imiter(path, plugin="pillow"))  # imread(index=None) reads one frame of a WebP
    assert all(frame.shape[:2] == (size[1], size[0]) for frame in frames)
    return len(frames)
