"""Finding a VAE file from what a user typed (a path, or a name in the VAE folders), without torch,
so the CLI refuses a wrong --vae before it loads any model library."""

from __future__ import annotations

import os
from pathlib import Path

from sdstudio.errors import ModelError

VAE_SUFFIXES = (".safetensors", ".ckpt", ".pt")


def expanded(text: str) -> Path:
    """`~/x` as the home folder's x; `~nobody/x` (no such user) stays as typed instead of raising."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        return Path(text)


def resolve_vae(name_or_path: str) -> Path:
    """A VAE file from a path or a name in the VAE folders (`sdstudio models` lists them)."""
    text = name_or_path.strip()
    path = expanded(text)
    if path.is_file():
        if path.suffix.lower() not in VAE_SUFFIXES:
            raise ModelError(f"VAE '{text}' is not a .safetensors/.ckpt/.pt file")
        return path
    if path.suffix.lower() in VAE_SUFFIXES or os.sep in text:
        raise ModelError(f"VAE file '{text}' does not exist")
    from sdstudio.engine.discovery import resolve_network

    return resolve_network("vae", text).path
