"""The JSON header of a .safetensors file (tensor names, shapes, metadata), read without torch.

The format is 8 bytes of little-endian header length, then that many bytes of JSON: one entry per
tensor (`dtype`, `shape`, `data_offsets`) and an optional `__metadata__` of strings. The LoRA
browser lists hundreds of files, so only the header is read, never a tensor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit


@dataclass(frozen=True)
class Header:
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1024)
def _read(path: str, size: int, mtime: float) -> Header:
    with open(path, "rb") as file:
        length = int.from_bytes(file.read(8), "little")
        if not 0 < length <= min(MAX_HEADER, size - 8):
            return Header()
        try:
            data = json.loads(file.read(length))
        except ValueError:
            return Header()
    if not isinstance(data, dict):
        return Header()
    raw_metadata = data.pop("__metadata__", None)
    metadata = {str(k): str(v) for k, v in raw_metadata.items()} if isinstance(raw_metadata, dict) else {}
    shapes = {
        name: tuple(int(n) for n in entry.get("shape", ())) for name, entry in data.items() if isinstance(entry, dict)
    }
    return Header(shapes, metadata)


def read_header(path: Path) -> Header:
    """Names, shapes and metadata; an empty Header for a file that is not valid safetensors."""
    path = Path(path)
    try:
        stat = path.stat()
        return _read(str(path.resolve()), stat.st_size, stat.st_mtime)
    except OSError:
        return Header()
