"""Builders of hostile files: odd PNGs and JPEGs, metadata chunks of the wrong type, depth and size,
and .safetensors headers that lie. Each builder returns bytes, so tests can write them anywhere."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286


def chunk(kind: bytes, data: bytes, crc_ok: bool = True) -> bytes:
    crc = zlib.crc32(kind + data) ^ (0 if crc_ok else 0xFFFF)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(*extra_chunks: bytes, size: tuple[int, int] = (16, 16)) -> bytes:
    """A valid PNG (random pixels) with `extra_chunks` right after its header."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    header_end = len(PNG_SIGNATURE) + 25  # signature + IHDR chunk
    return data[:header_end] + b"".join(extra_chunks) + data[header_end:]


def text_chunk(key: str, value: str | bytes) -> bytes:
    raw = value if isinstance(value, bytes) else value.encode("latin-1")
    return chunk(b"tEXt", key.encode("latin-1") + b"\0" + raw)


def itxt_chunk(key: str, value: bytes) -> bytes:
    return chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value)


def ztxt_chunk(key: str, value: bytes) -> bytes:
    return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value, 9))


def jpeg(comment: object = None, raw_exif: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if comment is not None:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = comment
    Image.new("RGB", (16, 16), (90, 20, 200)).save(buffer, format="JPEG", exif=raw_exif or exif.tobytes())
    return buffer.getvalue()


def ihdr(width: int, height: int) -> bytes:
    return PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


COMFY_SAMPLER = {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7, "sampler_name": "euler",
                                                      "scheduler": "normal", "denoise": 1.0, "positive": ["2", 0]}}
COMFY_TEXT = {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox"}}
DEEP = "[" * 100_000 + "]" * 100_000


def comfy(**inputs: object) -> str:
    sampler = {**COMFY_SAMPLER, "inputs": {**COMFY_SAMPLER["inputs"], **inputs}}
    return json.dumps({"1": sampler, "2": COMFY_TEXT})


def broken_images() -> dict[str, bytes]:
    """Files that are not a readable image at all: every reader must say so in one line."""
    good = png()
    idat = good.index(b"IDAT") - 4
    return {
        "empty.png": b"",
        "text.png": b"this is a shopping list, not a picture",
        "truncated.png": good[:70],
        "cut-in-idat.png": good[: idat + 20],
        "bad-crc.png": good[:idat] + chunk(b"IDAT", zlib.compress(b"\0" * 100), crc_ok=False) + chunk(b"IEND", b""),
        "garbage-idat.png": good[:idat] + chunk(b"IDAT", bytes(range(256)) * 4) + chunk(b"IEND", b""),
        "bomb.png": ihdr(60_000, 60_000),
        "zero-size.png": ihdr(0, 0),
        "truncated.jpg": jpeg()[:120],
        "riff-garbage.webp": b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(64),
        "ztxt-bomb.png": png(ztxt_chunk("parameters", b"a" * (20 * 2**20))),
    }


def odd_metadata_images() -> dict[str, bytes]:
    """Readable images whose metadata is hostile: they must load, with what can be read shown."""
    return {
        "comfy-denoise-abc.png": png(text_chunk("prompt", comfy(denoise="abc", steps="many"))),
        "comfy-deep.png": png(text_chunk("prompt", DEEP), text_chunk("workflow", DEEP)),
        "comfy-deep-link.png": png(text_chunk("prompt", '{"1": {"class_type": "KSampler", "inputs": {"positive": '
                                              + DEEP + "}}}")),
        "comfy-wrong-shapes.png": png(text_chunk("prompt", '{"1": "KSampler", "2": [1, 2], "3": null}'),
                                      text_chunk("workflow", '{"nodes": "abc", "links": 5}')),
        "comfy-huge-int.png": png(text_chunk("prompt", comfy(seed=int("9" * 4000)))),
        "a1111-inf.png": png(text_chunk("parameters", "a cat\nSteps: inf, Sampler: Euler, CFG scale: nan, "
                                        "Seed: 1e999, Size: 99999999999x5")),
        "a1111-long-line.png": png(text_chunk("parameters", "a cat\n" + "a " * 40_000)),
        "a1111-no-settings.png": png(text_chunk("parameters", "\n\n\n")),
        "itxt-invalid-utf8.png": png(itxt_chunk("parameters", b"\xff\xfe not utf-8 \xc3")),
        "text-latin1-bytes.png": png(text_chunk("parameters", b"caf\xe9 \xff\nSteps: 3, Seed: 1, Size: 8x8")),
        "nul-and-fffd.png": png(itxt_chunk("parameters",
                                           "a \x00 b \ufffd c\nSteps: 3, Sampler: Euler, Seed: 2".encode())),
        "exif-int-comment.jpg": jpeg(comment=12345),
        "exif-odd-bytes.jpg": jpeg(comment=b"UNICODE\x00\xd8\x00\xd8\x00\x00"),
        "exif-garbage.jpg": jpeg(raw_exif=b"Exif\x00\x00" + b"II*\x00" + b"\xff" * 40),
    }


def _header(header: bytes | dict, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _entry(offset: int = 0) -> dict:
    return {"dtype": "F16", "shape": [1], "data_offsets": [offset, offset + 2]}


def hostile_checkpoints() -> dict[str, bytes]:
    """.safetensors files whose header lies, is hostile or is cut: refused from the header alone."""
    unet = "model.diffusion_model."
    million = b"{" + b",".join(b'"k%d":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}' % i
                               for i in range(1_000_000)) + b"}"
    return {
        "empty.safetensors": b"",
        "short.safetensors": b"\x05\x00",
        "length-past-end.safetensors": struct.pack("<Q", 2**40) + b"{}",
        "random.safetensors": bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
        "metadata-50mb.safetensors": _header({"__metadata__": {"notes": "x" * (50 * 2**20)},
                                              unet + "out.2.weight": _entry()}, b"\0\0"),
        "million-keys.safetensors": _header(million, b"\0\0"),
        "deep.safetensors": _header(b"[" * 100_000 + b"]" * 100_000),
        "list.safetensors": _header(b"[1, 2, 3]"),
        "not-utf8.safetensors": _header(b'{"\xff\xfe": 1}'),
        "metadata-nested.safetensors": _header({"__metadata__": {"a": {"b": [1]}}, "w": _entry()}, b"\0\0"),
        "truncated.safetensors": _header({unet + "w": _entry(), unet + "v": _entry(2)}, b"\0\0\0"),
        "odd-dtype.safetensors": _header({unet + "w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 2]}},
                                         b"\0\0"),
        "huge-shape.safetensors": _header({unet + "w": {"dtype": "F16", "shape": [2**40, 2**40],
                                                        "data_offsets": [0, 2]}}, b"\0\0"),
    }
