"""LoRAs, embeddings and VAEs in the window: the browser dock, the VAE combo, the prompt colours,
Image > Extend canvas (outpainting) and a restored image that names files not installed here."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtGui import QTextCursor
from safetensors.numpy import save_file

from sdstudio.bridge.local.backend import LocalBackend
from sdstudio.bridge.protocol import Capabilities, Capability
from sdstudio.engine import discovery
from sdstudio.engine.outpaint import Extension
from sdstudio.engine.requests import Mode
from sdstudio.io.metadata import parse_parameters
from sdstudio.ui.network_wiring import RESTORED, restored_message
from sdstudio.ui.prompt_edit import EMBEDDING_COLOR
from sdstudio.ui.settings import SettingsStore
from tests.ui.conftest import ScriptedDialogs

SCAN_TIMEOUT_MS = 10_000
A1111 = """masterpiece, ink style <lora:ink:0.8> <lora:jinx:0.6>
Negative prompt: EasyNegative, bad hands
Steps: 4, Sampler: Euler, CFG scale: 5, Seed: 12, Size: 64x64, Model: tiny, VAE hash: df3c506e51, \
VAE: kl-f8-anime2.ckpt, Lora hashes: "ink: 96718d4b1924, jinx: faecb6cfeccd", TI hashes: "EasyNegative: c74b4e810b03", \
Version: v1.9.4"""


class ExtendDialogs(ScriptedDialogs):
    """Scripted dialogs that also answer Image > Extend canvas."""

    def __init__(self) -> None:
        super().__init__()
        self.extensions: list[Extension | None] = []
        self.extend_images: list[tuple[int, int]] = []

    def extend_canvas(self, parent, image) -> Extension | None:
        self.extend_images.append((image.width(), image.height()))
        return self.extensions.pop(0) if self.extensions else None


@pytest.fixture
def dialogs() -> ExtendDialogs:
    return ExtendDialogs()


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """lora/, embeddings/ and vae/ folders of the test's own with one file each, and no others."""
    monkeypatch.setattr(discovery, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    made = {}
    for kind, variable in discovery.NETWORK_DIRS_VARIABLES.items():
        made[kind] = tmp_path / kind
        made[kind].mkdir()
        monkeypatch.setenv(variable, str(made[kind]))
    write(made["lora"] / "ink.safetensors", {"ss_tag_frequency": json.dumps({"a": {"ink style": 3}})})
    write(made["embedding"] / "EasyNegative.safetensors")
    write(made["vae"] / "ft-mse.safetensors")
    return made


def write(path, metadata=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": np.zeros((1, 768), np.float32)}, str(path), metadata=metadata)
    return path


def scanned(qtbot, window):
    qtbot.waitUntil(lambda: not window.networks.scanning, timeout=SCAN_TIMEOUT_MS)
    return window


def test_a_restored_image_names_what_is_not_installed(folders):
    text, level = restored_message(parse_parameters(A1111))
    assert level == "warning" and text.startswith(RESTORED)
    assert "LoRA 'jinx' (hash faecb6cfeccd)" in text and "VAE 'kl-f8-anime2' (hash df3c506e51)" in text
    assert "'ink'" not in text and "EasyNegative" not in text  # those are installed
    installed = A1111.replace("<lora:jinx:0.6>", "").replace(", jinx: faecb6cfeccd", "")
    installed = installed.replace("VAE hash: df3c506e51, VAE: kl-f8-anime2.ckpt, ", "")
    assert restored_message(parse_parameters(installed)) == (RESTORED, "info")


def test_with_a_servers_files_listed_what_is_missing_is_what_the_server_lacks(qtbot, folders):
    from sdstudio.ui.network_catalog import NetworkCatalog

    catalog = NetworkCatalog()
    catalog.show_server({"lora": ["jinx", "Other"], "embedding": [], "vae": ["kl-f8-anime2"]}, "http://gpu:8188",
                        refresh=lambda: None)
    text, level = restored_message(parse_parameters(A1111), catalog)
    assert level == "warning" and "Not on http://gpu:8188: " in text and "models/loras" in text
    # ink is installed here but not on the server; jinx and the VAE are on the server
    assert "LoRA 'ink'" in text and "EasyNegative" in text and "jinx" not in text and "kl-f8-anime2" not in text
    catalog.show_local()
    assert "Not installed here" in restored_message(parse_parameters(A1111), catalog)[0]


def test_opening_such_an_image_says_it_in_the_notice_bar(qtbot, make_window, folders, dialogs, tmp_path):
    window = scanned(qtbot, make_window())
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    Image.new("RGB", (64, 64), (90, 40, 200)).save(tmp_path / "a1111.png", pnginfo=info)
    dialogs.answers = [True]  # restore its settings
    assert window.open_image(tmp_path / "a1111.png")
    assert window.generation.prompt.startswith("masterpiece, ink style <lora:ink:0.8>")
    assert window.notice.level == "warning" and "LoRA 'jinx'" in window.notice.text()


def test_the_vae_combo_lists_the_installed_vaes(qtbot, make_window, folders):
    window = scanned(qtbot, make_window())
    vae = window.controls.vae
    assert [vae.itemData(i) for i in range(vae.count())] == ["", "ft-mse"]
    vae.setCurrentIndex(1)
    assert window.build_request().vae == "ft-mse"
    with qtbot.waitSignal(window.networks.changed, timeout=SCAN_TIMEOUT_MS):
        write(folders["vae"] / "anime.safetensors")
    assert [vae.itemData(i) for i in range(vae.count())] == ["", "anime", "ft-mse"]
    assert window.generation.vae == "ft-mse"  # the choice survives the rescan


def test_browser_clicks_go_to_the_prompt_last_typed_in(qtbot, make_window, folders):
    window = scanned(qtbot, make_window())
    window.show_network_browser()
    assert window.network_dock.isVisible()
    window.generation.prompt = "a castle"
    window.generation.negative_prompt = "blurry"
    window.controls.prompt.moveCursor(QTextCursor.MoveOperation.End)
    window.network_browser.insert_requested.emit("<lora:ink:1>")
    assert window.generation.prompt == "a castle <lora:ink:1>"
    window.controls.negative.setFocus()
    qtbot.waitUntil(window.controls.negative.hasFocus)
    window.controls.negative.moveCursor(QTextCursor.MoveOperation.End)
    window.network_browser.insert_requested.emit("EasyNegative")
    assert window.generation.negative_prompt == "blurry EasyNegative"
    block = window.controls.negative.document().firstBlock()
    formats = block.layout().formats()
    coloured = {(r.start, r.length) for r in formats if r.format.foreground().color() == EMBEDDING_COLOR}
    assert coloured == {(len("blurry "), len("EasyNegative"))}  # an installed embedding word is marked


def test_the_browser_dock_shares_the_explorers_place_and_the_window_stays_narrow(qtbot, make_window, folders):
    window = scanned(qtbot, make_window())
    window.network_action.trigger()  # View > LoRAs & Embeddings while the explorer is closed
    assert window.network_dock.isVisible() and not window.explorer_dock.isVisible()
    window.explorer_action.trigger()
    assert window.tabifiedDockWidgets(window.explorer_dock) == [window.network_dock]
    assert window.minimumSizeHint().width() <= 1000
    window.network_dock.hide()
    window.show_network_browser()
    assert window.tabifiedDockWidgets(window.network_dock) == [window.explorer_dock]


def test_the_browser_stays_open_across_restarts(qtbot, make_window, folders):
    window = make_window()
    window.network_action.trigger()
    window.explorer_action.trigger()
    window.close()
    assert SettingsStore().settings.networks_visible
    reopened = make_window()
    assert reopened.network_dock.isVisible() and reopened.explorer_dock.isVisible()
    assert reopened.tabifiedDockWidgets(reopened.explorer_dock) == [reopened.network_dock]


def test_a_model_folder_with_an_a1111_install_brings_its_loras(qtbot, make_window, folders, tmp_path):
    window = scanned(qtbot, make_window())
    install = tmp_path / "webui"
    (install / "models" / "Stable-diffusion").mkdir(parents=True)
    write(install / "models" / "Lora" / "add_detail.safetensors")
    with qtbot.waitSignal(window.networks.changed, timeout=SCAN_TIMEOUT_MS):
        window.add_model_folder(install)
    assert [e.name for e in window.network_browser.entries_shown() if e.kind == "lora"] == ["add_detail", "ink"]


def test_extend_canvas_makes_a_masked_input_and_the_next_request_outpaints(qtbot, make_window, dialogs, tmp_path):
    window = make_window()
    window.extend_canvas_dialog()
    assert window.notice.level == "warning" and not dialogs.extend_images  # nothing to extend yet
    Image.new("RGB", (64, 48), (200, 40, 90)).save(tmp_path / "in.png")
    assert window.open_image(tmp_path / "in.png", ask_restore=False)
    window.generation.strength = 0.5
    dialogs.extensions = [Extension(left=16, bottom=8)]
    window.extend_canvas_action.trigger()
    assert dialogs.extend_images == [(64, 48)]
    assert window.mode() is Mode.INPAINT
    request = window.build_request()
    assert request.init_image.size == (80, 56) and request.mask_image.size == (80, 56)
    assert np.asarray(request.init_image)[0:48, 16:80].tolist() == np.asarray(Image.open(tmp_path / "in.png")).tolist()
    mask = np.asarray(request.mask_image)
    assert mask[:, :16].min() == 255 and mask[:8, 40].max() == 0  # new strip repainted, the middle kept
    assert request.strength == pytest.approx(0.9) and "denoise raised" in window.notice.text()
    window.canvas.undo()  # the mask is an ordinary canvas mask: undo leaves the extended image
    assert window.mode() is Mode.IMG2IMG and window.canvas.image().width() == 80


def test_a_backend_without_loras_or_inpainting_greys_them_out_and_says_why(qtbot, make_window, monkeypatch):
    absent = {Capability.LORA: "LoRAs are not sent to this backend", Capability.INPAINT: "no inpainting here"}
    limited = Capabilities(frozenset(Capability) - set(absent), absent)
    monkeypatch.setattr(LocalBackend, "capabilities", property(lambda self: limited))
    window = make_window()
    assert not window.network_browser.isEnabled()
    assert window.network_browser.toolTip() == "LoRAs are not sent to this backend"
    assert not window.extend_canvas_action.isEnabled()
    assert window.extend_canvas_action.toolTip() == "no inpainting here"
