"""Screenshots of the main window's states into docs/screenshots/, rendered offscreen.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Uses the built-in model (checkpoints/sdstudio-emoji) when it exists, else a tiny random model
(images are then noise, but every control, preview and gallery state is real). Settings and
outputs go to a temporary folder, never the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUILTIN = ROOT / "checkpoints" / "sdstudio-emoji"
WINDOW_SIZE = (1400, 900)


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


async def shoot(window, app, out: Path, model: Path, real: bool) -> list[Path]:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    written: list[Path] = []

    def grab(name: str) -> None:
        path = out / f"{name}.png"
        window.grab().save(str(path))
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
            window.grab().save(str(out / "02-generating.png"))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    import qasync
    from PySide6.QtWidgets import QApplication

    scratch = Path(tempfile.mkdtemp(prefix="sdstudio-shots-"))
    os.environ["SDSTUDIO_CONFIG_DIR"] = str(scratch / "config")
    os.environ["SDSTUDIO_OUTPUT_DIR"] = str(scratch / "outputs")
    model, real = model_folder(scratch)

    from sdstudio.ui.main_window import MainWindow
    from sdstudio.ui.settings import SettingsStore
    from sdstudio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    store = SettingsStore()
    s = store.settings
    s.model, s.model_paths = str(model), [str(model)]
    s.sampler, s.cfg_scale, s.seed, s.seed_locked = "Euler a", 7.0, 1234, True
    if not real:
        s.width = s.height = 256
        s.size_follows_model = False
    window = MainWindow(store=store)
    window.resize(*WINDOW_SIZE)
    window.show()

    async def run() -> list[Path]:
        await settle(app, 300)
        try:
            return await shoot(window, app, args.out, model, real)
        finally:
            window.close()

    with loop:
        written = loop.run_until_complete(run())
    for path in written:
        print(path)
    print(f"model: {'built-in ' + str(model) if real else 'tiny random model (no built-in model found)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
