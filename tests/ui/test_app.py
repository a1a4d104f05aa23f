"""`sdstudio` without a usable display says what to do in one line instead of a Qt abort."""

from __future__ import annotations

import pytest

from sdstudio import app
from tests.ui.conftest import OFFSCREEN_NOISE


def test_no_display_prints_one_line_pointing_to_the_cli(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(app.sys, "platform", "linux")
    assert app.run_app([]) == app.NO_DISPLAY_EXIT
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0]
    assert "sdstudio generate" in lines[0] and "sdstudio --help" in lines[0]
    assert "Traceback" not in captured.err + captured.out


def test_missing_xcb_libraries_name_the_apt_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    present = {"xcb-icccm": True, "xcb-keysyms": False, "xcb-cursor": False}
    monkeypatch.setattr(app, "_library_present", lambda name: present.get(name, True))
    problem = app.display_problem({"DISPLAY": ":0"}, "linux")
    assert problem is not None and "\n" not in problem
    assert "sudo apt-get install -y libxcb-keysyms1 libxcb-cursor0" in problem
    assert "libxcb-icccm4" not in problem


def test_a_usable_display_or_an_explicit_platform_is_not_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "_library_present", lambda name: True)
    assert app.display_problem({"DISPLAY": ":0"}, "linux") is None
    assert app.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert app.display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert app.display_problem({}, "win32") is None
    assert app.display_problem({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux") is not None


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_run_app_opens_the_window_and_stops_the_engine_on_quit(qapp, monkeypatch: pytest.MonkeyPatch,
                                                                 no_thread_left) -> None:
    from PySide6.QtCore import QTimer

    from sdstudio.ui.main_window import MainWindow

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    seen: list[MainWindow] = []

    def close_once_loading(window: MainWindow) -> None:
        """Close as soon as the window says the model loads: the engine thread is busy then."""
        seen.append(window)

        def on_status(text: str) -> None:
            if text.startswith("Loading model") and window.isVisible():
                QTimer.singleShot(0, window.close)

        window.statusBar().messageChanged.connect(on_status)

    try:
        assert app.run_app([], on_window=close_once_loading) == 0
    finally:
        qapp.setStyleSheet("")
    assert len(seen) == 1 and not seen[0].backend.running
    assert len(no_thread_left) == 1
