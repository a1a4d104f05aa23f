"""Cancel inside a step: the cancel flag is checked before every block of the UNet, not only between steps.

One UNet call is a fraction of a second at 512x512 on a GPU, but minutes at 4096x4096 on a CPU;
checking only between steps would leave the user waiting for the step to end. A forward pre-hook
on each ResNet and transformer block raises Cancelled as soon as the flag is set, so a cancel waits
at most one block. Python cannot interrupt a single torch kernel, so one block is the limit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from sdstudio.errors import Cancelled

CHECKED_BLOCKS = ("ResnetBlock2D", "Transformer2DModel", "Attention")


@contextmanager
def cancellable(module: torch.nn.Module, cancel: threading.Event | None) -> Iterator[None]:
    """While inside, `module` raises Cancelled at its next block once `cancel` is set.

    A torch.compile'd module is left alone: a Python hook would split its graph at every block."""
    if cancel is None or hasattr(module, "_orig_mod"):
        yield
        return

    def check(_block: torch.nn.Module, _inputs: tuple) -> None:
        if cancel.is_set():
            raise Cancelled()

    blocks = [m for m in module.modules() if type(m).__name__ in CHECKED_BLOCKS]
    handles = [block.register_forward_pre_hook(check) for block in blocks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
