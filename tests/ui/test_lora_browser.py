"""The LoRA/embedding browser and the catalog behind it: what is installed, what the files say about
themselves, search, click to insert at the prompt's cursor, and folders that change while the app runs."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit
from safetensors.numpy import save_file

from sdstudio.ui.lora_browser import NetworkBrowser
from sdstudio.ui.model import GenerationModel
from sdstudio.ui.network_catalog import NetworkCatalog
from sdstudio.ui.prompt_edit import PromptEditor
from sdstudio.ui.properties import bind
from tests.ui.conftest import OFFSCREEN_NOISE

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
SCAN_TIMEOUT_MS = 10_000
KOHYA_TO_K = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
INK_METADATA = {
    "ss_base_model_version": "sd_v1",
    "ss_output_name": "InkStyle_v2",
    "ss_tag_frequency": json.dumps({"10_ink": {"ink style": 12, "monochrome": 5, "1girl": 3}}),
}


@pytest.fixture
def folders(network_folders):
    return network_folders


def write(path, metadata=None, width=768):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": np.zeros((2, width), np.float32)}, str(path), metadata=metadata)
    return path


def scanned(qtbot, catalog: NetworkCatalog, *args) -> NetworkCatalog:
    with qtbot.waitSignal(catalog.changed, timeout=SCAN_TIMEOUT_MS):
        catalog.refresh(*args)
    return catalog


@pytest.fixture
def browser(qtbot, folders):
    write(folders["lora"] / "ink.safetensors", INK_METADATA)
    sdxl = {"modelspec.architecture": "stable-diffusion-xl-v1-base"}
    write(folders["lora"] / "styles" / "paper-cut.safetensors", sdxl)
    write(folders["embedding"] / "EasyNegative.safetensors")
    write(folders["vae"] / "ft-mse.safetensors")
    catalog = NetworkCatalog()
    widget = NetworkBrowser(catalog)
    qtbot.addWidget(widget)
    widget.resize(300, 500)
    with qtbot.waitExposed(widget):
        widget.show()
    scanned(qtbot, catalog)
    return widget


def _item(browser: NetworkBrowser, name: str):
    for group in range(browser.tree.topLevelItemCount()):
        parent = browser.tree.topLevelItem(group)
        for i in range(parent.childCount()):
            if parent.child(i).text(0) == name:
                return parent.child(i)
    raise AssertionError(f"{name} is not listed")


def _click(qtbot, browser: NetworkBrowser, name: str) -> None:
    item = _item(browser, name)
    browser.tree.scrollToItem(item)
    qtbot.mouseClick(browser.tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=browser.tree.visualItemRect(item).center())


def test_loras_and_embeddings_are_listed_with_what_their_files_say(browser):
    assert [(e.kind, e.name) for e in browser.entries_shown()] == [
        ("lora", "ink"), ("lora", "paper-cut"), ("embedding", "EasyNegative")]  # VAEs go to the VAE combo
    assert _item(browser, "ink").text(1) == "sd_v1"
    assert _item(browser, "paper-cut").text(1) == "stable-diffusion-xl-v1-base"
    assert browser.catalog.names("vae") == ["ft-mse"]
    browser.tree.setCurrentItem(_item(browser, "ink"))
    details = browser.details.text()
    assert "Base model: sd_v1" in details and "Trained as: InkStyle_v2" in details
    assert details.index("ink style") < details.index("monochrome") < details.index("1girl")  # most used first


def test_clicking_inserts_the_tag_or_the_word(qtbot, browser):
    inserted = []
    browser.insert_requested.connect(inserted.append)
    _click(qtbot, browser, "ink")
    browser.weight.setValue(0.8)
    _click(qtbot, browser, "paper-cut")
    _click(qtbot, browser, "EasyNegative")
    assert inserted == ["<lora:ink:1>", "<lora:paper-cut:0.8>", "EasyNegative"]
    browser.tree.setCurrentItem(_item(browser, "ink"))
    browser.details.linkActivated.emit("word:1")  # the trigger word "monochrome" in the details
    assert inserted[-1] == "monochrome"


def test_a_click_goes_into_the_prompt_at_its_cursor(qtbot, browser):
    model = GenerationModel()
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    editor = PromptEditor(edit)
    bind(model, "prompt", edit, "plainText")
    model.prompt = "a castle, fog"
    cursor = edit.textCursor()
    cursor.setPosition(len("a castle"))
    edit.setTextCursor(cursor)
    browser.insert_requested.connect(editor.insert)
    _click(qtbot, browser, "ink")
    assert model.prompt == "a castle <lora:ink:1>, fog"
    assert edit.textCursor().position() == len("a castle <lora:ink:1>")
    edit.moveCursor(QTextCursor.MoveOperation.End)
    _click(qtbot, browser, "EasyNegative")
    assert model.prompt == "a castle <lora:ink:1>, fog EasyNegative"


def test_search_filters_by_name_and_alias_in_any_case(browser):
    browser.search.setText("PAPER")
    assert [e.name for e in browser.entries_shown()] == ["paper-cut"]
    browser.search.setText("inkstyle")  # the trainer's name for "ink"
    assert [e.name for e in browser.entries_shown()] == ["ink"]
    browser.search.setText("nothing like this")
    assert browser.entries_shown() == []
    browser.search.clear()
    assert len(browser.entries_shown()) == 3


def test_a_file_dropped_into_a_folder_appears_without_a_restart(qtbot, browser, folders):
    with qtbot.waitSignal(browser.catalog.changed, timeout=SCAN_TIMEOUT_MS):
        path = folders["lora"] / "styles" / "watercolor.safetensors"
        save_file({f"{KOHYA_TO_K}.lora_down.weight": np.zeros((4, 768), np.float32)}, str(path))
    assert "watercolor" in [e.name for e in browser.entries_shown()]
    assert _item(browser, "watercolor").text(1) == "sd1"  # no metadata: told from the tensor widths


def test_a_broken_file_is_listed_with_the_reason_and_the_rest_still_work(qtbot, folders):
    (folders["lora"] / "truncated.safetensors").write_bytes(b"\xff\x00\x00\x00\x00\x00\x00\x00{")
    write(folders["lora"] / "good.safetensors")
    catalog = scanned(qtbot, NetworkCatalog())
    widget = NetworkBrowser(catalog)
    qtbot.addWidget(widget)
    assert [e.name for e in widget.entries_shown()] == ["good", "truncated"]
    widget.tree.setCurrentItem(_item(widget, "truncated"))
    assert "truncated" in widget.details.text() and catalog.entries("lora")[1].problem
    assert widget.details.text().count("color:#e55b5b") == 1


def test_with_nothing_installed_it_says_where_to_put_files(qtbot, folders):
    catalog = scanned(qtbot, NetworkCatalog())
    widget = NetworkBrowser(catalog)
    qtbot.addWidget(widget)
    assert widget.entries_shown() == []
    assert "No LoRAs or embeddings found" in widget.details.text() and str(folders["lora"]) in widget.details.text()


def test_an_a1111_install_added_as_a_model_folder_brings_its_loras(qtbot, folders, tmp_path):
    install = tmp_path / "stable-diffusion-webui"
    (install / "models" / "Stable-diffusion").mkdir(parents=True)
    write(install / "models" / "Lora" / "add_detail.safetensors")
    write(install / "embeddings" / "bad-hands.safetensors")
    catalog = scanned(qtbot, NetworkCatalog())
    assert catalog.names("lora") == []
    scanned(qtbot, catalog, [install])
    assert catalog.names("lora") == ["add_detail"] and catalog.names("embedding") == ["bad-hands"]
    scanned(qtbot, catalog)  # a plain rescan keeps the folders it was given
    assert catalog.names("lora") == ["add_detail"]


def test_a_scan_that_ends_after_its_catalog_was_deleted_is_dropped(qtbot, folders):
    survivor = NetworkCatalog()
    catalog = NetworkCatalog()
    catalog.refresh()
    shiboken6.delete(catalog)  # as when the window closes mid-scan; the Python object lingers
    qtbot.waitUntil(lambda: not any(t.name == "network-scan" for t in threading.enumerate()))
    with qtbot.waitSignal(survivor.changed, timeout=SCAN_TIMEOUT_MS):  # the dead catalog's result comes first
        survivor.refresh()
    assert not shiboken6.isValid(catalog) and survivor.names("embedding") == []
