"""Screenshots of the main window's states into docs/screenshots/, on a screen of a given size.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--screen 1366x768] [--xvfb]
                                            [--scale 1.5] [--grab window|screen] [--only 01-empty,03-result]

The window opens the way the app opens it on that screen (its own size and placement logic), so
the shots show what a user of a 1366x768 or 1280x800 laptop sees. By default the screen is an
offscreen one of that size; `--xvfb` runs a real X server (Xvfb, no window manager) instead and
`--grab screen` captures the whole screen, so anything cut off at its edge shows as cut off.

Uses the built-in model (checkpoints/sdstudio-emoji) when it exists, else a tiny random model
(images are then noise, but every control, preview and gallery state is real). Settings and
outputs go to a temporary folder, never the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUILTIN = ROOT / "checkpoints" / "sdstudio-emoji"
XVFB_DISPLAY = ":97"
XVFB_START_S = 10.0


def model_folder(scratch: Path) -> tuple[Path, bool]:
    """The built-in model, or a tiny random one saved to `scratch` (and whether it is the real one)."""
    if BUILTIN.is_dir():
        return BUILTIN, True
    from tests.tiny_models import save_tiny_sd

    return save_tiny_sd(scratch / "tiny-random-sd"), False


def wait_for(signal) -> asyncio.Future:
    """A future resolved by the next emission of `signal` (with its arguments)."""
    future = asyncio.get_event_loop().create_future()

    def resolve(*args) -> None:
        signal.disconnect(resolve)
        if not future.done():
            future.set_result(args)

    signal.connect(resolve)
    return future


async def settle(app, ms: int = 150) -> None:
    """Let layouts, repaints and queued signals run before grabbing."""
    await asyncio.sleep(ms / 1000)
    app.processEvents()


def grab_image(window, what: str):
    """The window as rendered, or the whole screen it is on (shows what is cut off at the edges)."""
    if what == "screen":
        return window.screen().grabWindow(0)
    return window.grab()


async def shoot(window, app, out: Path, what: str = "window") -> list[Path]:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    written: list[Path] = []

    def grab(name: str) -> None:
        path = out / f"{name}.png"
        grab_image(window, what).save(str(path))
        written.append(path)

    c = window.controls
    # Prompts the built-in emoji model knows (its captions are emoji names).
    c.prompt.setPlainText("cat face")
    c.negative.setPlainText("")
    c.cfg.spin.setValue(5.0)
    await settle(app, 400)
    grab("01-empty")

    c.steps.spin.setValue(30)
    halfway = asyncio.get_event_loop().create_future()

    def on_preview(frame) -> None:
        if frame.step >= 12 and not halfway.done():
            grab_image(window, what).save(str(out / "02-generating.png"))
            halfway.set_result(None)

    window.preview_shown.connect(on_preview)
    finished = wait_for(window.generation_finished)
    window.start_generate()
    await finished
    window.preview_shown.disconnect(on_preview)
    written.append(out / "02-generating.png")
    await settle(app)
    grab("03-result")

    window.use_shown_as_input()
    canvas = window.canvas
    canvas.brush_size = max(8, canvas.image().width() // 8)
    canvas.brush_hardness = 0.7
    w, h = canvas.image().width(), canvas.image().height()
    points = [QPointF(w * x, h * y) for x, y in ((0.3, 0.35), (0.45, 0.45), (0.6, 0.4), (0.68, 0.6))]
    first = canvas.image_to_widget(points[0]).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first)
    for point in points[1:]:
        QTest.mouseMove(canvas, canvas.image_to_widget(point).toPoint())
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       canvas.image_to_widget(points[-1]).toPoint())
    QTest.mouseMove(canvas, canvas.image_to_widget(QPointF(w * 0.75, h * 0.7)).toPoint())
    await settle(app)
    grab("04-mask")
    QTest.mouseMove(window.controls, window.controls.rect().center())  # no brush ring in later shots

    window.clear_canvas()
    c.prompt.setPlainText("red apple")
    c.steps.spin.setValue(12)
    c.batch.setValue(5)
    finished = wait_for(window.generation_finished)
    window.start_generate()
    await finished
    await settle(app)
    grab("05-gallery")

    entries = window.gallery.entries()
    tab = window.explorer.interpolation
    window.gallery.interpolation_a_chosen.emit(str(entries[-1].path))
    window.gallery.interpolation_b_chosen.emit(str(entries[0].path))
    for _ in range(600):  # both images encoded and a first frame shown
        await settle(app, 100)
        if tab.last_frame is not None and not tab.blends.busy:
            break
    tab.set_t(0.4)
    for _ in range(600):
        await settle(app, 100)
        if not tab.blends.busy:
            break
    await settle(app, 600)
    grab("06-explorer")
    return written


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def start_xvfb(size: tuple[int, int]) -> subprocess.Popen:
    """A virtual X screen of `size` on XVFB_DISPLAY; the caller terminates it."""
    socket = Path("/tmp/.X11-unix") / f"X{XVFB_DISPLAY[1:]}"
    server = subprocess.Popen(["Xvfb", XVFB_DISPLAY, "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + XVFB_START_S
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"Xvfb did not start on {XVFB_DISPLAY} (is it installed? apt-get install -y xvfb)")
        time.sleep(0.05)
    return server


def use_screen(args: argparse.Namespace, scratch: Path) -> subprocess.Popen | None:
    """Point Qt at the screen to shoot on, before QApplication exists."""
    if args.scale != 1.0:
        os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    if args.xvfb:
        server = start_xvfb(args.screen)
        os.environ["DISPLAY"] = XVFB_DISPLAY
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        return server
    screen = {"name": "screenshots", "x": 0, "y": 0, "width": args.screen[0], "height": args.screen[1],
              "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    config = scratch / "screen.json"
    config.write_text(json.dumps({"screens": [screen]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"
    return None


def write_settings(config_dir: Path, model: Path, real: bool) -> None:
    """The settings file a user would have, with the model chosen (the file is the contract,
    whatever object holds each field in the app)."""
    settings = {"model": str(model), "model_paths": [str(model)], "sampler": "Euler a", "cfg_scale": 7.0}
    if not real:
        settings.update(width=256, height=256, size_follows_model=False)
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "settings.json").write_text(json.dumps(settings, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--screen", type=parse_size, default=(1366, 768), help="screen size, e.g. 1280x800")
    parser.add_argument("--scale", type=float, default=1.0, help="QT_SCALE_FACTOR, e.g. 1.5")
    parser.add_argument("--xvfb", action="store_true", help="a real X server (Xvfb) instead of offscreen")
    parser.add_argument("--grab", choices=("window", "screen"), default="window")
    parser.add_argument("--only", default="", help="comma-separated shot names to keep (all are taken)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    scratch = Path(tempfile.mkdtemp(prefix="sdstudio-shots-"))
    os.environ["SDSTUDIO_CONFIG_DIR"] = str(scratch / "config")
    os.environ["SDSTUDIO_OUTPUT_DIR"] = str(scratch / "outputs")
    server = use_screen(args, scratch)
    try:
        return shoot_all(args, scratch)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)


def shoot_all(args: argparse.Namespace, scratch: Path) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    model, real = model_folder(scratch)
    write_settings(scratch / "config", model, real)

    from sdstudio.ui.main_window import MainWindow
    from sdstudio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow()
    # A seed lock never survives a restart (issue 12, point 3): lock it here for repeatable shots.
    window.generation.seed, window.generation.seed_locked = 1234, True
    window.show()

    async def run() -> list[Path]:
        await settle(app, 300)
        try:
            return await shoot(window, app, args.out, args.grab)
        finally:
            window.close()

    with loop:
        written = loop.run_until_complete(run())
    keep = {name for name in args.only.split(",") if name}
    for path in written:
        if keep and path.stem not in keep:
            path.unlink(missing_ok=True)
            continue
        print(path)
    screen = window.screen()
    print(f"screen {screen.geometry().width()}x{screen.geometry().height()} logical "
          f"(scale {screen.devicePixelRatio():g}), window {window.frameGeometry().getRect()}")
    print(f"model: {'built-in ' + str(model) if real else 'tiny random model (no built-in model found)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
