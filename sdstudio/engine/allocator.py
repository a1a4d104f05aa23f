"""Keep freed memory in the process, so a diffusion step's big tensors reuse it instead of new pages.

glibc gives every block above its mmap threshold (128 KiB, rising to at most 32 MiB) a fresh
mapping and unmaps it on free, and a thread's arena cannot hold a block above 64 MiB at all. A CPU
diffusion job allocates and frees tensors of 30-300 MB for every layer, so it page-faults (and the
kernel zeroes) its working set over and over: a full-size SD 1.5 job at 256x256, 4 steps, took
2.4 million minor faults and 5 of its 31 CPU seconds in the kernel; with the settings below, about
20 faults, and the same job on a thread took 10.5-11.3 s instead of 16.5-17.1 s. A1111 preloads tcmalloc for
the same reason; this needs no extra library.

`keep_freed_memory` makes every thread allocate from the main heap (one arena), keeps blocks up to
1 GiB there and never trims the heap on free; it is called at process start, before any thread is
made (an existing thread keeps the arena it has). `release_free_memory` hands the free part back to
the system, for when the engine is idle. Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import platform
import threading

# mallopt() parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
HEAP_BLOCK_LIMIT = 1 << 30  # blocks above this still get a mapping of their own (a 4096x4096 VAE pass)
NEVER_TRIM = (1 << 31) - 1  # mallopt takes an int

_lock = threading.Lock()
_applied: bool | None = None


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Apply the settings once per process. True if they are in force."""
    global _applied
    with _lock:
        if _applied is None:
            libc = _glibc()
            _applied = libc is not None and all(
                libc.mallopt(option, value) == 1
                for option, value in (
                    (M_ARENA_MAX, 1),
                    (M_MMAP_THRESHOLD, HEAP_BLOCK_LIMIT),
                    (M_TRIM_THRESHOLD, NEVER_TRIM),
                )
            )
        return _applied


def release_free_memory() -> None:
    """Return the heap's free pages to the system (the next job faults in what it needs once)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
