"""Reading and writing images with their generation parameters.

PNG carries the parameters in a `parameters` text chunk (iTXt when not Latin-1), as A1111 does;
JPEG and WebP carry them in EXIF UserComment ('UNICODE\\0' + UTF-16), which A1111 reads too.
Every write is atomic; every read failure is an InputError with one line a person can act on.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from sdstudio.errors import InputError
from sdstudio.io.atomic import atomic_path
from sdstudio.io.metadata import ParsedParameters, parameters_to_text, parse_comfyui, parse_parameters

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
EXIF_USER_COMMENT = 0x9286
EXIF_IFD = 0x8769
OUTPUT_NAME = re.compile(r"^(\d{5})-")


def _user_comment(text: str) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be")


def _decode_user_comment(raw: bytes | str) -> str | None:
    if isinstance(raw, str):
        return raw or None
    if raw.startswith(b"UNICODE\x00"):
        text = raw[8:].decode("utf-16-be", "replace")  # piexif and A1111 write big-endian
        if "\x00" in text or "\ufffd" in text:  # some tools write little-endian
            text = raw[8:].decode("utf-16-le", "replace")
        return text
    if raw.startswith(b"ASCII\x00\x00\x00"):
        return raw[8:].decode("ascii", "replace")
    return raw.decode("utf-8", "replace").strip("\x00") or None


def save_image(image: Image.Image, path: Path | str, parameters: str | None = None) -> Path:
    """Write `image` to `path` (format from the suffix) with its parameters, atomically."""
    path = Path(path)
    image_format = SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise InputError(f"cannot write '{path.name}': use a .png, .jpg or .webp file name")
    with atomic_path(path) as temp:
        if image_format == "PNG":
            info = PngImagePlugin.PngInfo()
            if parameters:
                try:
                    parameters.encode("latin-1")
                    info.add_text("parameters", parameters)
                except UnicodeEncodeError:
                    info.add_itxt("parameters", parameters)
            image.save(temp, format="PNG", pnginfo=info)
        else:
            exif = Image.Exif()
            if parameters:
                exif.get_ifd(EXIF_IFD)[EXIF_USER_COMMENT] = _user_comment(parameters)
            rgb = image.convert("RGB") if image_format == "JPEG" or image.mode not in ("RGB", "RGBA") else image
            rgb.save(temp, format=image_format, quality=95, exif=exif.tobytes())
    return path


def next_output_path(folder: Path | str, seed: int, suffix: str = ".png") -> Path:
    """`folder/NNNNN-SEED.png`, numbered one past the highest number there (never an existing file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(match.group(1)) for p in folder.iterdir() if (match := OUTPUT_NAME.match(p.name))]
    number = max(numbers, default=0) + 1
    while True:
        candidate = folder / f"{number:05d}-{seed}{suffix}"
        if not candidate.exists():
            return candidate
        number += 1


def _open(path: Path | str, what: str) -> Image.Image:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise InputError(f"{what} '{path}' is a folder, not an image file")
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here (and the file is closed after)
            image.getexif()  # read EXIF while the file is open (JPEG keeps it in the stream)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{what} '{path}' is not an image Pillow can read ({reason})") from error
    return image


def load_image(path: Path | str) -> Image.Image:
    """An RGB image, EXIF-rotated the way it looks in a viewer; transparent areas become white."""
    image = ImageOps.exif_transpose(_open(path, "image"))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_mask(path: Path | str) -> Image.Image:
    """A mask, mode "L", white = repaint. A mask painted as transparency (uniform colour, varying
    alpha) uses its alpha channel."""
    image = _open(path, "mask")
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        low, high = rgba.convert("L").getextrema()
        if alpha.getextrema() != (255, 255) and high - low < 8:
            return alpha
        return rgba.convert("L")
    return image.convert("L")


def read_parameters(path: Path | str) -> ParsedParameters | None:
    """The generation parameters an image carries (A1111/sdstudio, EXIF, or ComfyUI), if any."""
    image = _open(path, "image")
    text = image.info.get("parameters")
    if not text:
        comment = image.getexif().get_ifd(EXIF_IFD).get(EXIF_USER_COMMENT)
        text = _decode_user_comment(comment) if comment else None
    if text:
        try:
            return parse_parameters(str(text))
        except InputError:
            return None
    return parse_comfyui(image.info.get("prompt"), image.info.get("workflow"))


def read_parameters_text(path: Path | str) -> str | None:
    """The parameters as A1111 text: verbatim when the image has them so, else rebuilt."""
    image = _open(path, "image")
    text = image.info.get("parameters")
    if text:
        return str(text)
    parsed = read_parameters(path)
    return parameters_to_text(parsed) if parsed is not None else None
