"""The app's gallery opens an output folder full of hostile files: every file gets its thumbnail
slot, readable settings are restored, unreadable ones are left out, and nothing raises in a slot
(an exception there used to kill the loader, so later images never appeared)."""

from __future__ import annotations

import pytest

from sdstudio.io.images import save_image
from sdstudio.ui.gallery import ENTRY_ROLE, Gallery, entry_from_file
from tests.fuzz.hostile_files import broken_images, odd_metadata_images, png

EXPECTED_PROMPTS = {
    "comfy-denoise-abc.png": "a fox",
    "comfy-huge-int.png": "a fox",
    "a1111-inf.png": "a cat",
    "nul-and-fffd.png": "a \x00 b \ufffd c",
    "text-latin1-bytes.png": "café ÿ",
    "zz-last-good.png": "the image after the hostile ones",
}


# Qt's image decoders say what they think of the broken files; the gallery must survive that.
DECODER_NOISE = r"(JPEG datastream|Corrupt JPEG|Premature end of JPEG|libpng|Unsupported marker|Invalid JPEG)"


@pytest.mark.qt_log_ignore(DECODER_NOISE)
def test_gallery_loads_a_folder_of_hostile_files(qtbot, tmp_path):
    files = {**broken_images(), **odd_metadata_images(), "plain.png": png()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    save_image(png_image(), tmp_path / "zz-last-good.png",
               "the image after the hostile ones\nSteps: 4, Sampler: Euler, CFG scale: 5, Seed: 3, Size: 16x16")
    gallery = Gallery()
    qtbot.addWidget(gallery)
    with qtbot.waitSignal(gallery.loaded, timeout=60_000):
        gallery.load_folder(tmp_path, limit=100)
    entries = {entry.path.name: entry for entry in gallery.entries()}
    assert set(entries) == {*files, "zz-last-good.png"}
    for name, prompt in EXPECTED_PROMPTS.items():
        assert entries[name].request is not None and entries[name].request.prompt == prompt, name
    restored = entries["a1111-inf.png"].request
    assert (restored.steps, restored.seed) == (20, 0)  # Steps: inf, Seed: 1e999 are unreadable: defaults kept
    assert set(entries["a1111-inf.png"].unreadable) == {"Steps", "CFG scale", "Seed", "Size"}
    item = next(gallery.list.item(i) for i in range(gallery.count())
                if gallery.list.item(i).data(ENTRY_ROLE).path.name == "a1111-inf.png")
    assert "unreadable (not restored): Steps, CFG scale, Seed, Size" in item.toolTip()
    assert entries["zz-last-good.png"].request.steps == 4
    assert entries["a1111-long-line.png"].request.prompt.startswith("a cat\na a a")  # no settings: all prompt
    for name in broken_images():
        assert entries[name].request is None, name


def test_every_hostile_file_gives_an_entry_without_raising(tmp_path):
    for name, data in {**broken_images(), **odd_metadata_images()}.items():
        (tmp_path / name).write_bytes(data)
        entry = entry_from_file(tmp_path / name)
        assert entry.path == tmp_path / name
        if entry.request is not None:
            entry.request.validated()  # a restored request is always one the engine accepts


def png_image():
    from PIL import Image

    return Image.new("RGB", (16, 16), (10, 120, 40))
