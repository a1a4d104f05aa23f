"""A1111's short hashes, so our `parameters` text names files the way A1111 (and Civitai) look them up.

A1111 (`modules/hashes.py`, `extensions-builtin/Lora/network.py`, `modules/sd_vae.py`,
`modules/textual_inversion/textual_inversion.py`) writes:
- `Lora hashes: "name: h"`: the first 12 hex digits of the file's `sshs_model_hash` metadata when
  kohya's trainer stored one, else of the "addnet" hash (sha256 of a .safetensors file's tensor
  data, after its JSON header, so editing metadata keeps the hash), else of the whole file's sha256.
- `TI hashes`: sha256 of the whole embedding file, 12 digits.
- `Model hash` / `VAE hash`: sha256 of the whole file, 10 digits.
Torch-free: the metadata writer and the UI call these directly. Results are cached by path, size
and modification time, as A1111 caches them, since hashing a 2 GB checkpoint takes seconds.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from sdstudio.engine.safetensors_header import read_header

_BLOCK = 1024 * 1024


def _digest(path: Path, start: int = 0) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        file.seek(start)
        for block in iter(lambda: file.read(_BLOCK), b""):
            sha.update(block)
    return sha.hexdigest()


@lru_cache(maxsize=512)
def _cached(path: str, size: int, mtime: float, addnet: bool) -> str:
    file = Path(path)
    if not addnet:
        return _digest(file)
    with file.open("rb") as handle:
        header_length = int.from_bytes(handle.read(8), "little")
    return _digest(file, 8 + header_length)


def _hash(path: Path, addnet: bool = False) -> str:
    stat = Path(path).stat()
    return _cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime, addnet)


def sha256(path: Path) -> str:
    """The whole file's sha256 (hex)."""
    return _hash(path)


def addnet_hash(path: Path) -> str:
    """kohya/sd-webui-additional-networks hash: sha256 of a .safetensors file past its header."""
    return _hash(path, addnet=True)


def lora_hash(path: Path) -> str:
    """What A1111 writes in `Lora hashes` for this file (12 hex digits)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        stored = read_header(path).metadata.get("sshs_model_hash", "")
        return (stored or addnet_hash(path))[:12]
    return sha256(path)[:12]


def embedding_hash(path: Path) -> str:
    """What A1111 writes in `TI hashes` (12 hex digits)."""
    return sha256(path)[:12]


def model_hash(path: Path) -> str:
    """A1111's `Model hash` of a single-file checkpoint (10 hex digits)."""
    return sha256(path)[:10]


def vae_hash(path: Path) -> str:
    """A1111's `VAE hash` (10 hex digits)."""
    return sha256(path)[:10]
