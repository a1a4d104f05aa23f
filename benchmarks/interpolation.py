"""Latent exploration: how attached the A/B slider feels, and how smooth the walks are.

Slider latency: the time from a new t to its frame being on screen, measured in a real (offscreen)
QApplication through the whole path: slider value -> job on the engine thread -> blend + decode ->
QImage -> signal -> QPixmap set on the view. Goal: <= 50 ms while dragging. Measured one frame at a
time (cheap preview decode and full VAE decode) and during a simulated drag at 120 Hz, where the
slider's latest-only coalescing decides which frames are drawn (lag = age of the t shown).

Walk smoothness: for a 16-frame walk A -> B, the L2 pixel distances between consecutive frames;
max/mean near 1 means evenly paced, no jumps (goal <= 1.5), for lerp, slerp and refined walks.

Usage: python benchmarks/interpolation.py [--model NAME|PATH | --random] [--size 64] [--frames 16]
       [--samples 30] [--threads N]. Without --model it uses the built-in model (checkpoints/sdstudio-emoji)
if installed, else the tiny random model of the tests (and says so: its numbers show the plumbing,
not a real VAE). --random: a mid-sized random SD-shaped model, for timings at realistic VAE depth.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from sdstudio.bridge.jobs import WalkJob  # noqa: E402
from sdstudio.bridge.local.backend import LocalBackend  # noqa: E402
from sdstudio.bridge.qimage import pil_to_qimage, qimage_to_pil  # noqa: E402
from sdstudio.engine.requests import GenerationRequest  # noqa: E402
from sdstudio.ui.exploration.interpolation_tab import LIVE_FULL_DECODE_SECONDS, TICKS, InterpolationTab  # noqa: E402

BUILTIN = ROOT / "checkpoints" / "sdstudio-emoji"
GOAL_LATENCY_MS = 50.0
GOAL_SMOOTHNESS = 1.5


def pick_model(name: str | None) -> tuple[str, str]:
    if name:
        return name, name
    if BUILTIN.exists():
        return str(BUILTIN), "built-in sdstudio-emoji"
    from tests.tiny_models import save_tiny_sd

    folder = save_tiny_sd(Path(tempfile.mkdtemp(prefix="sdstudio-bench-")) / "tiny-sd")
    return str(folder), "TINY RANDOM MODEL (checkpoints/sdstudio-emoji not installed): plumbing numbers only"


def make_engine(threads: int, random_mid: bool):
    """The engine, made on the engine thread (so the thread setting applies where torch runs)."""
    import torch

    from sdstudio.engine.engine import Engine

    if threads > 0:
        torch.set_num_threads(threads)
    engine = Engine()
    if random_mid:
        from benchmarks.engine_vs_diffusers import random_model

        engine.use(random_model())
    return engine


def test_images(size: int) -> tuple[Image.Image, Image.Image]:
    """Two different pictures: a face and a house, flat colours with edges (like emoji)."""
    a = Image.new("RGB", (size, size), (245, 240, 228))
    draw = ImageDraw.Draw(a)
    s = size
    draw.ellipse((s * 0.1, s * 0.1, s * 0.9, s * 0.9), fill=(250, 200, 40))
    draw.ellipse((s * 0.3, s * 0.33, s * 0.4, s * 0.45), fill=(40, 30, 20))
    draw.ellipse((s * 0.6, s * 0.33, s * 0.7, s * 0.45), fill=(40, 30, 20))
    draw.arc((s * 0.28, s * 0.4, s * 0.72, s * 0.75), 20, 160, fill=(120, 40, 20), width=max(1, s // 24))
    b = Image.new("RGB", (size, size), (200, 225, 245))
    draw = ImageDraw.Draw(b)
    draw.rectangle((s * 0.2, s * 0.45, s * 0.8, s * 0.9), fill=(60, 120, 220))
    draw.polygon([(s * 0.12, s * 0.47), (s * 0.5, s * 0.12), (s * 0.88, s * 0.47)], fill=(200, 60, 60))
    draw.rectangle((s * 0.44, s * 0.65, s * 0.56, s * 0.9), fill=(90, 60, 30))
    return a, b


def wait_for(signal, timeout_ms: int = 120000) -> None:
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    signal.disconnect(loop.quit)


def wait_until(condition, timeout_s: float = 300.0) -> None:
    end = time.perf_counter() + timeout_s
    while not condition():
        loop = QEventLoop()
        QTimer.singleShot(2, loop.quit)
        loop.exec()
        if time.perf_counter() > end:
            raise TimeoutError("the engine did not answer")


def one_frame_latency(tab: InterpolationTab, quality: str, samples: int) -> list[float]:
    """ms from a new slider value to its frame painted, one at a time (nothing else in flight)."""
    tab.live_full_decode_seconds = float("inf") if quality == "full" else -1.0
    rng = np.random.default_rng(0)
    latencies = []
    for _ in range(samples):
        value = int(rng.integers(1, TICKS))
        started = time.perf_counter()
        tab.slider.setValue(value)
        while not (
            tab.last_frame is not None
            and round(tab.last_frame.t * TICKS) == value
            and tab.last_frame.quality == quality
        ):
            wait_for(tab.view.shown)
        latencies.append((time.perf_counter() - started) * 1000)
        wait_until(lambda: not tab.blends.busy)
    return latencies


def drag_lag(tab: InterpolationTab, quality: str, seconds: float = 1.5, hz: float = 120.0) -> tuple[list[float], int]:
    """A drag at `hz` slider events per second: the age of the t on screen at each paint, and how
    many frames were painted."""
    tab.live_full_decode_seconds = float("inf") if quality == "full" else -1.0
    set_at: dict[int, float] = {}
    lags: list[float] = []

    def painted() -> None:
        frame = tab.last_frame
        if frame is not None and frame.quality == quality:
            value = round(frame.t * TICKS)
            if value in set_at:
                lags.append((time.perf_counter() - set_at[value]) * 1000)

    tab.view.shown.connect(painted)
    tab.slider.setSliderDown(True)
    started = time.perf_counter()
    step = 0
    while time.perf_counter() - started < seconds:
        step += 1
        value = 1 + (step * 3) % (TICKS - 2)
        set_at[value] = time.perf_counter()
        tab.slider.setValue(value)
        loop = QEventLoop()
        QTimer.singleShot(int(1000 / hz), loop.quit)
        loop.exec()
    tab.slider.setSliderDown(False)
    wait_until(lambda: not tab.blends.busy)
    tab.view.shown.disconnect(painted)
    return lags, len(lags)


def walk(backend: LocalBackend, frames: int, **fields) -> list[np.ndarray]:
    handle = backend.submit(WalkJob(frames=frames, **fields))
    wait_until(lambda: handle.state.ended, timeout_s=3600)
    if handle.outcome is None:
        raise SystemExit(f"walk failed: {handle.error or handle.state.value}")
    result = handle.outcome
    return [np.asarray(qimage_to_pil(image), dtype=np.float64) for image in result.frames]


def smoothness(frames: list[np.ndarray]) -> tuple[float, float, float]:
    """(max/mean, mean, max) of the L2 distances between consecutive frames (per pixel RMS)."""
    distances = [float(np.sqrt(((b - a) ** 2).mean())) for a, b in zip(frames, frames[1:], strict=False)]
    mean = statistics.fmean(distances)
    return max(distances) / mean if mean else float("nan"), mean, max(distances)


def describe(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   max {ordered[-1]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--random",
        action="store_true",
        help="a mid-sized random SD-shaped model (8x VAE, as benchmarks/engine_vs_diffusers.py)",
    )
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--steps", type=int, default=12, help="steps of the refined walk's img2img")
    parser.add_argument("--strength", type=float, default=0.5, help="strength of the refined walk")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads on the engine thread (0: torch's default). On a machine whose cores\n"
        "are busy with other work, 1 avoids OpenMP threads waiting on each other",
    )
    args = parser.parse_args()

    if args.random:
        model, label = "", "mid-sized RANDOM SD-shaped model (8x VAE, 4 blocks of 32-64 channels): timing only"
    else:
        model, label = pick_model(args.model)
    app = QApplication.instance() or QApplication([])
    out = Path(tempfile.mkdtemp(prefix="sdstudio-bench-out-"))
    worker = LocalBackend(output_dir=lambda: out, engine_factory=lambda: make_engine(args.threads, args.random))
    request = GenerationRequest(
        prompt="an emoji",
        model=model,
        width=args.size,
        height=args.size,
        steps=args.steps,
        sampler="Euler",
        seed=1,
        cfg_scale=5.0,
    )
    tab = InterpolationTab(worker, request_provider=lambda: request)
    tab.resize(520, 760)
    try:
        a, b = test_images(args.size)
        tab.set_image_a(pil_to_qimage(a))
        tab.set_image_b(pil_to_qimage(b))
        wait_until(lambda: tab.last_frame is not None and not tab.blends.busy)
        decode_ms = tab.full_decode_seconds * 1000
        print(f"model: {label}")
        print(
            f"size: {args.size}x{args.size}   torch threads: {args.threads or 'default'}   "
            f"cores: {os.cpu_count()}   load: {os.getloadavg()[0]:.1f}"
        )
        print(
            f"full VAE decode (measured at encode): {decode_ms:.1f} ms -> the slider decodes "
            f"{'fully' if decode_ms <= LIVE_FULL_DECODE_SECONDS * 1000 else 'cheaply'} while dragging "
            f"(threshold {LIVE_FULL_DECODE_SECONDS * 1000:.0f} ms)"
        )
        print("\nslider latency, new t -> frame on screen (goal <= 50 ms while dragging)")
        for quality in ("cheap", "full"):
            print(f"  one frame, {quality:5s}: {describe(one_frame_latency(tab, quality, args.samples))}")
        for quality in ("cheap", "full"):
            lags, painted = drag_lag(tab, quality)
            print(f"  drag 120 Hz, {quality:5s}: {describe(lags)}   ({painted / 1.5:.0f} frames/s painted)")

        print(
            f"\nwalk smoothness, {args.frames} frames A -> B: max/mean of consecutive L2 distances "
            f"(goal <= {GOAL_SMOOTHNESS})"
        )
        common = {"key": "interpolate", "model": model}
        refine = replace(request, strength=args.strength)
        walks = (
            ("lerp", {"walk": "latent", "mode": "lerp"}),
            ("slerp", {"walk": "latent", "mode": "slerp"}),
            (
                f"refined (slerp, {args.strength}, {args.steps} st)",
                {"walk": "refined", "mode": "slerp", "refine": refine},
            ),
        )
        for name, payload in walks:
            for pacing in ("uniform", "even"):
                started = time.perf_counter()
                frames = walk(worker, args.frames, pacing=pacing, **common, **payload)
                ratio, mean, biggest = smoothness(frames)
                verdict = "ok" if ratio <= GOAL_SMOOTHNESS else "ABOVE GOAL"
                print(
                    f"  {name:30s} {pacing:7s} max/mean {ratio:5.2f}  (mean {mean:5.2f}, max {biggest:5.2f} /255)"
                    f"  {time.perf_counter() - started:5.1f} s  {verdict}"
                )
    finally:
        worker.close(60.0)
        app.processEvents()


if __name__ == "__main__":
    main()
