"""The allocator settings: big blocks freed by one operation are reused by the next without new page
faults, on the engine's own (non-main) thread too, and the free memory can be handed back."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

# A thread allocates, fills and frees a 96 MiB block five times (a layer's activation, say) and
# counts its own minor page faults in the last four rounds; then the process's resident size is read
# with the block freed, before and after release_free_memory().
PROBE = r"""
import ctypes, json, resource, sys, threading
from sdstudio.engine.allocator import keep_freed_memory, release_free_memory
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else False
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 96 << 20
result = {"tuned": tuned}

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20

def rounds():
    faults = 0
    for index in range(5):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        block = libc.malloc(SIZE)
        ctypes.memset(block, 1, SIZE)
        libc.free(block)
        if index:
            faults += resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before
    result["faults"] = faults
    result["resident_freed"] = resident_mib()
    release_free_memory()
    result["resident_released"] = resident_mib()

thread = threading.Thread(target=rounds)
thread.start()
thread.join()
print(json.dumps(result))
"""


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_freed_blocks_are_reused_without_new_page_faults() -> None:
    plain, tuned = probe("plain"), probe("tuned")
    assert tuned["tuned"] and not plain["tuned"]
    # glibc maps and unmaps a block this big every time: 4 x 96 MiB of fresh pages.
    assert plain["faults"] > 1000
    assert tuned["faults"] * 20 < plain["faults"]


def test_released_memory_goes_back_to_the_system() -> None:
    tuned = probe("tuned")
    assert tuned["resident_freed"] - tuned["resident_released"] > 80  # MiB: the freed block, kept until released
