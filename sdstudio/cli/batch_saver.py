"""Save a batch image by image, the moment each is decoded, so an interrupted batch keeps its work.

A 20-image batch killed after 6 leaves those 6 whole, with their metadata: each is written
atomically (sdstudio.io) from the engine's `on_image` callback, before the next image starts.
A plain `kill` (SIGTERM) is turned into the same clean interrupt as Ctrl-C, so a write in progress
is rolled back rather than left as a temp file; only SIGKILL cannot be caught, and the writes are
atomic against that too.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sdstudio.engine.requests import GeneratedImage

PathFor = Callable[[int, GeneratedImage], Path]
Save = Callable[[GeneratedImage, Path], Path]


class BatchSaver:
    """The engine's `on_image` listener: saves each image where `path_for` says, prints its path."""

    def __init__(self, total: int, path_for: PathFor, save: Save, before_print: Callable[[], None]) -> None:
        self.total = total
        self.saved: list[Path] = []
        self._path_for, self._save, self._before_print = path_for, save, before_print

    def __call__(self, generated: GeneratedImage) -> None:
        target = self._save(generated, self._path_for(len(self.saved), generated))
        self.saved.append(target)
        self._before_print()  # clear the progress line, so the path is not printed onto it
        print(target, flush=True)  # flushed: a script reading our stdout sees each file as it lands

    def summary(self) -> str:
        return f"{len(self.saved)} of {self.total} saved"


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt for the duration (main thread only), then the old handler is back."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
