"""Atomic file writes: a file appears complete under its name, or not at all.

Everything sdstudio writes (images, masks, settings, animations) goes to a hidden temporary
file in the same folder, is flushed to disk, then renamed over the target (`os.replace` is
atomic on POSIX and Windows). A crash or an exception mid-write leaves no partial file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_path_for(path: Path) -> Path:
    """A hidden sibling name with the same suffix (so Pillow and imageio pick the format from it)."""
    return path.with_name(f".{path.stem}.tmp-{secrets.token_hex(4)}{path.suffix}")


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed to `path`, else removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(target)
    try:
        yield temp
        if temp.is_file():
            with temp.open("rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_path(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
