"""Reading and writing images with their generation parameters.

PNG carries the parameters in a `parameters` text chunk (iTXt when not Latin-1), as A1111 does;
JPEG and WebP carry them in EXIF UserComment ('UNICODE\\0' + UTF-16), which A1111 reads too.
Every write is atomic; a new output claims its name atomically and never replaces a file (two
processes saving into one folder keep every image). Every read failure is an InputError with one
line a person can act on; metadata that cannot be read is reported as absent, never raised.
"""

from __future__ import annotations

import itertools
import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from sdstudio.errors import InputError
from sdstudio.io.atomic import atomic_path, write_new
from sdstudio.io.metadata import ParsedParameters, clean_text, parameters_to_text, parse_comfyui, parse_parameters

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
EXIF_USER_COMMENT = 0x9286
EXIF_IFD = 0x8769
OUTPUT_NAME = re.compile(r"^(\d{5})-")


# JPEG keeps EXIF in one APP1 segment of at most 65,535 bytes (with its own header).
JPEG_EXIF_LIMIT = 65_000
# What Pillow reports for files it cannot decode: its plugins raise more than OSError on hostile bytes.
DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                 KeyError, TypeError, ZeroDivisionError, RecursionError, MemoryError, Image.DecompressionBombError)


def _user_comment(text: str) -> bytes:
    return b"UNICODE\x00" + text.encode("utf-16-be")


def _utf16_order(data: bytes) -> str:
    """'utf-16-be' or 'utf-16-le' for a BOM-less UTF-16 payload.

    A1111 (piexif) and we write big-endian; some tools write little-endian. Text with any ASCII
    has zero high bytes, which sit at even offsets in big-endian and odd ones in little-endian;
    text with none (CJK, emoji) gives no evidence and is read as big-endian. A U+FFFD or NUL in
    the prompt no longer flips the order (it did when the guess was "does it decode cleanly")."""
    if data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return "utf-16"
    even, odd = data[0::2].count(0), data[1::2].count(0)
    return "utf-16-le" if odd > even else "utf-16-be"


def _decode_user_comment(raw: object) -> str | None:
    if isinstance(raw, str):
        return raw or None
    if not isinstance(raw, bytes):
        return None
    if raw.startswith(b"UNICODE\x00"):
        payload = raw[8:]
        return payload[: len(payload) // 2 * 2].decode(_utf16_order(payload), "replace") or None
    if raw.startswith(b"ASCII\x00\x00\x00"):
        return raw[8:].decode("ascii", "replace") or None
    return raw.decode("utf-8", "replace").strip("\x00") or None


def _format_for(path: Path) -> str:
    image_format = SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise InputError(f"cannot write '{path.name}': use a .png, .jpg or .webp file name")
    return image_format


def check_parameters_fit(path: Path | str, parameters: str) -> None:
    """Refuse (before any compute) parameters too long for the format: JPEG's EXIF segment is
    limited to 64 KB, about 32,000 characters of UTF-16."""
    path = Path(path)
    if _format_for(path) == "JPEG" and len(_user_comment(parameters)) + 1024 > JPEG_EXIF_LIMIT:
        raise InputError(
            f"the prompt is too long to store in '{path.name}' ({len(parameters)} characters; JPEG keeps about "
            "32,000): write a .png or .webp instead"
        )


def _encoder(image: Image.Image, image_format: str, parameters: str | None, png_text: dict[str, str] | None = None):
    """A function writing `image` in `image_format` with its parameters to a path or a file.
    Lone surrogates (undecodable bytes) become U+FFFD: a finished image is never lost to its text.
    `png_text`: more PNG text chunks (a ComfyUI `prompt` graph, so that ComfyUI opens the file)."""
    parameters = clean_text(parameters) if parameters else parameters
    if image_format == "JPEG" and parameters:
        check_parameters_fit(Path("image.jpg"), parameters)

    def encode(target: Path | BinaryIO) -> None:
        if image_format == "PNG":
            info = PngImagePlugin.PngInfo()
            if parameters:
                try:
                    parameters.encode("latin-1")
                    info.add_text("parameters", parameters)
                except UnicodeEncodeError:
                    info.add_itxt("parameters", parameters)
            for key, text in (png_text or {}).items():
                info.add_text(key, text) if text.isascii() else info.add_itxt(key, text)
            image.save(target, format="PNG", pnginfo=info)
            return
        exif = Image.Exif()
        if parameters:
            exif.get_ifd(EXIF_IFD)[EXIF_USER_COMMENT] = _user_comment(parameters)
        rgb = image.convert("RGB") if image_format == "JPEG" or image.mode not in ("RGB", "RGBA") else image
        rgb.save(target, format=image_format, quality=95, exif=exif.tobytes())

    return encode


def _writing(path: Path, error: OSError) -> InputError:
    reason = error.strerror or type(error).__name__
    return InputError(f"cannot write '{path}': {reason}; choose another --out or folder")


def save_image(image: Image.Image, path: Path | str, parameters: str | None = None) -> Path:
    """Write `image` to `path` (format from the suffix) with its parameters, atomically,
    *replacing* a file already there. For destinations a person chose and confirmed (an export
    dialog's "replace?"); generated outputs use `save_new_image` or `save_output`."""
    path = Path(path)
    encode = _encoder(image, _format_for(path), parameters)
    try:
        with atomic_path(path) as temp:
            encode(temp)
    except OSError as error:
        raise _writing(path, error) from error
    return path


def numbered_names(path: Path, numbered: bool = False) -> Iterator[str]:
    """`x.png`, then `x-1.png`, `x-2.png`, ... (only the numbered ones when `numbered`)."""
    if not numbered:
        yield path.name
    for number in itertools.count(1):
        yield f"{path.stem}-{number}{path.suffix}"


def save_new_image(image: Image.Image, path: Path | str, parameters: str | None = None, *,
                   numbered: bool = False, png_text: dict[str, str] | None = None) -> Path:
    """Write `image` as a new file and return where it went; an existing file is never replaced.

    `--out x.png` onto an existing `x.png` writes `x-1.png` (then `x-2.png`, ...) and the CLI
    prints the name it used. We choose a new name over refusing because the refusal would come
    after the compute (or, checked before it, could race another writer), and over replacing
    because a finished image is never lost. `numbered=True` (a batch: `x-1.png`, `x-2.png`)
    skips the plain name. The name is claimed atomically (see sdstudio.io.atomic.write_new)."""
    path = Path(path)
    encode = _encoder(image, _format_for(path), parameters, png_text)
    try:
        return write_new(path.parent, numbered_names(path, numbered), encode)
    except OSError as error:
        raise _writing(path, error) from error


def _output_names(folder: Path, seed: int, suffix: str) -> Iterator[str]:
    """NNNNN-SEED.suffix from one past the highest number in `folder` upwards."""
    try:
        names = [entry.name for entry in folder.iterdir()]
    except OSError:
        names = []
    numbers = [int(match.group(1)) for name in names if (match := OUTPUT_NAME.match(name))]
    for number in itertools.count(max(numbers, default=0) + 1):
        yield f"{number:05d}-{seed}{suffix}"


def save_output(image: Image.Image, folder: Path | str, seed: int, parameters: str | None = None,
                suffix: str = ".png", png_text: dict[str, str] | None = None) -> Path:
    """Save a generated image as `folder/NNNNN-SEED.png`, numbered past the highest number there,
    under a name claimed atomically: writers racing into one folder each keep every image
    (two may share a number with different seeds; none replaces another)."""
    folder = Path(folder)
    encode = _encoder(image, _format_for(folder / f"x{suffix}"), parameters, png_text)
    try:
        return write_new(folder, _output_names(folder, seed, suffix), encode)
    except OSError as error:
        raise _writing(folder, error) from error


def next_output_path(folder: Path | str, seed: int, suffix: str = ".png") -> Path:
    """The name `save_output` would try first right now. A prediction only: another writer may
    take it before you write, so never write to it yourself; call `save_output`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / next(name for name in _output_names(folder, seed, suffix) if not (folder / name).exists())


@contextmanager
def _pillow_quiet() -> Iterator[None]:
    """Pillow warns about damaged files ("Tag data larger than file", "Truncated File Read"); the
    CLI promises one line on stderr, so those are silenced, except the decompression-bomb warning,
    which becomes the error that refuses the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open(path: Path | str, what: str) -> Image.Image:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise InputError(f"{what} '{path}' is a folder, not an image file")
    try:
        with _pillow_quiet(), Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here (and the file is closed after)
            image.getexif()  # read EXIF while the file is open (JPEG keeps it in the stream)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise InputError(f"{what} '{path}' is too large to open safely ({str(error).split('(')[0].strip()})") from error
    except DECODE_ERRORS as error:
        raise InputError(f"{what} '{path}' is not an image that can be read: not a PNG, JPEG, WebP, BMP, GIF or "
                         "TIFF file, or a damaged one") from error
    return image


def load_image(path: Path | str) -> Image.Image:
    """An RGB image, EXIF-rotated the way it looks in a viewer; transparent areas become white."""
    image = _open(path, "image")
    with _pillow_quiet(), suppress(*DECODE_ERRORS):  # a damaged orientation tag: the pixels as stored
        image = ImageOps.exif_transpose(image)
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


def _exif_comment(image: Image.Image) -> str | None:
    """The EXIF UserComment as text; None when absent or unreadable (hostile EXIF raises anything)."""
    try:
        with _pillow_quiet():
            raw = image.getexif().get_ifd(EXIF_IFD).get(EXIF_USER_COMMENT)
    except DECODE_ERRORS:
        return None
    return _decode_user_comment(raw)


def _text_chunk(image: Image.Image, key: str) -> str | None:
    value = image.info.get(key)
    return value if isinstance(value, str) and value else None


def read_parameters(path: Path | str) -> ParsedParameters | None:
    """The generation parameters an image carries (A1111/sdstudio, EXIF, or ComfyUI), if any.

    Raises InputError only when the file is not an image; metadata that cannot be read is None."""
    image = _open(path, "image")
    text = _text_chunk(image, "parameters") or _exif_comment(image)
    if text:
        try:
            return parse_parameters(text)
        except InputError:
            return None
    return parse_comfyui(_text_chunk(image, "prompt"), _text_chunk(image, "workflow"))


def read_parameters_text(path: Path | str) -> str | None:
    """The parameters as A1111 text: verbatim when the image has them so, else rebuilt."""
    image = _open(path, "image")
    text = _text_chunk(image, "parameters") or _exif_comment(image)
    if text:
        return text
    parsed = read_parameters(path)
    return parameters_to_text(parsed) if parsed is not None else None
