"""The ComfyUI backend's cost and reach, on real ComfyUI servers (the tests' cached install).

1. Overhead: our end-to-end time per job (submit -> image in hand -> saved with metadata) vs the
   server's own execution time for the same graph ("Prompt executed in" in its log). Goal: <= 5 %
   and <= 50 ms per job at 64x64 / 4 steps.
2. Time from submit to the first preview decoded as a QImage (what the canvas shows).
3. Throughput of a batch on 2 servers vs 1, each server pinned to one core (OMP_NUM_THREADS=1),
   standing in for two machines. Goal: >= 1.7x with two.
Usage: python benchmarks/comfy_backend.py [--runs 5] [--batch 8] [--steps 4] [--size 64]
A machine shared with other jobs disturbs all of these; the medians and spreads say how much.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtGui import QImage  # noqa: E402

from sdstudio.bridge.comfy.batch import BatchRun  # noqa: E402
from sdstudio.bridge.comfy.connection import ComfyConnection  # noqa: E402
from sdstudio.bridge.comfy.results import save_result  # noqa: E402
from sdstudio.engine.requests import GenerationRequest  # noqa: E402
from tests.comfy.server import ComfyServer, ensure_install  # noqa: E402

EXECUTED = re.compile(r"Prompt executed in ([0-9.]+) seconds")


def server_times(server: ComfyServer) -> list[float]:
    return [float(value) for value in EXECUTED.findall(server.log.read_text())]


async def next_server_time(server: ComfyServer, seen: int) -> float:
    """The server logs its time just after it reports the end; wait for that line."""
    while len(times := server_times(server)) <= seen:
        await asyncio.sleep(0.01)
    return times[seen]


def request(args: argparse.Namespace, seed: int, batch: int = 1) -> GenerationRequest:
    return GenerationRequest("a red apple", "blurry", sampler="Euler", steps=args.steps, seed=seed,
                             width=args.size, height=args.size, batch_count=batch)


async def overhead(args: argparse.Namespace, server: ComfyServer, outputs: Path) -> None:
    connection = await ComfyConnection.open(server.url)
    try:
        await BatchRun([connection], request(args, 0)).run()  # loads the model on the server
        ours, theirs, first_previews = [], [], []
        for run in range(1, args.runs + 1):
            seen = len(server_times(server))
            first_preview: list[float] = []
            started = time.perf_counter()

            def on_preview(index, preview, started=started, first_preview=first_preview):
                if not first_preview and not QImage.fromData(preview.data, preview.format).isNull():
                    first_preview.append(time.perf_counter() - started)

            images = await BatchRun([connection], request(args, run), on_preview=on_preview).run()
            image = images[0]
            save_result(image.image, image.request, image.checkpoint, image.graph, outputs)
            ours.append(time.perf_counter() - started)
            theirs.append(await next_server_time(server, seen))
            first_previews.append(first_preview[0] if first_preview else float("nan"))
    finally:
        await connection.close()
    extra = [a - b for a, b in zip(ours, theirs, strict=True)]
    print(f"end to end     median {statistics.median(ours) * 1000:7.1f} ms  (min {min(ours) * 1000:.1f}, "
          f"max {max(ours) * 1000:.1f})")
    print(f"server's own   median {statistics.median(theirs) * 1000:7.1f} ms")
    print(f"overhead       median {statistics.median(extra) * 1000:7.1f} ms per job = "
          f"{statistics.median(extra) / statistics.median(theirs):.1%} (goal <= 50 ms and <= 5%)")
    print(f"first preview  median {statistics.median(first_previews) * 1000:7.1f} ms after submit")


async def throughput(args: argparse.Namespace, servers: list[ComfyServer]) -> None:
    connections = [await ComfyConnection.open(server.url) for server in servers]
    try:
        await asyncio.gather(*(BatchRun([c], request(args, 0)).run() for c in connections))  # warm both
        timings = {}
        for label, used, seed in (("1 server ", connections[:1], 1000), ("2 servers", connections, 2000)):
            started = time.perf_counter()
            await BatchRun(used, request(args, seed, args.batch)).run()
            timings[label] = time.perf_counter() - started
            print(f"{label}: {args.batch} images in {timings[label]:6.2f} s = "
                  f"{args.batch / timings[label]:.2f} images/s")
        print(f"speed-up with 2 servers: {timings['1 server '] / timings['2 servers']:.2f}x (goal >= 1.7x)")
    finally:
        for connection in connections:
            await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the overhead run's server")
    args = parser.parse_args()
    install = ensure_install()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        print(f"--- overhead, {args.size}x{args.size}, {args.steps} steps, {args.runs} runs")
        server = ComfyServer(install, root / "a", threads=args.threads).start()
        try:
            asyncio.run(overhead(args, server, root / "outputs"))
        finally:
            server.stop()
        print(f"--- batch of {args.batch}, servers pinned to one core each (OMP_NUM_THREADS=1)")
        servers = [ComfyServer(install, root / f"pinned-{i}", threads=1).start() for i in range(2)]
        try:
            asyncio.run(throughput(args, servers))
        finally:
            for pinned in servers:
                pinned.stop()


if __name__ == "__main__":
    main()
