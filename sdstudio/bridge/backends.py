"""Making a backend by kind, so the UI names what it wants without importing an implementation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject

from sdstudio.bridge.protocol import Backend


def local_backend(output_dir: Callable[[], Path], parent: QObject | None = None) -> Backend:
    """The engine in a thread of this process (torch is imported on that thread, when it starts)."""
    from sdstudio.bridge.local.backend import LocalBackend

    return LocalBackend(output_dir=output_dir, parent=parent)


async def comfy_backend(urls: list[str], output_dir: Callable[[], Path], token: str = "",
                        parent: QObject | None = None) -> Backend:
    """ComfyUI server(s) at `urls`, connected (raises a one-line SdStudioError when one cannot be)."""
    from sdstudio.bridge.comfy.backend import ComfyBackend

    return await ComfyBackend.connect(urls, output_dir, token, parent)
