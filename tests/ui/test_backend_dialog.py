"""Settings > Backend: the URL list a user types, and what Connect asks for."""

from __future__ import annotations

from sdstudio.ui.backend_dialog import BackendDialog, parse_urls


def test_urls_one_per_line_commas_or_spaces_and_a_default_scheme():
    text = "127.0.0.1:8188\nhttps://gpu.example.com/ , http://box:8188 127.0.0.1:8188"
    assert parse_urls(text) == ["http://127.0.0.1:8188", "https://gpu.example.com", "http://box:8188"]
    assert parse_urls("  \n ") == []


def test_connect_asks_for_the_listed_servers_with_the_token(qtbot, monkeypatch):
    monkeypatch.delenv("SDSTUDIO_BACKEND_TOKEN", raising=False)
    dialog = BackendDialog([], comfy_selected=True)
    qtbot.addWidget(dialog)
    dialog.urls.setPlainText("127.0.0.1:8188\n10.0.0.5:8188")
    dialog.token.setText("secret")
    with qtbot.waitSignal(dialog.connect_requested) as blocker:
        dialog.connect_button.click()
    assert blocker.args == [["http://127.0.0.1:8188", "http://10.0.0.5:8188"], "secret"]
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password


def test_no_url_is_a_clear_line_and_this_computer_is_one_click(qtbot):
    dialog = BackendDialog([], comfy_selected=True)
    qtbot.addWidget(dialog)
    dialog.connect_button.click()
    assert "at least one server" in dialog.status.text()
    dialog.local.setChecked(True)
    assert not dialog.urls.isEnabled()
    with qtbot.waitSignal(dialog.local_requested):
        dialog.connect_button.click()
