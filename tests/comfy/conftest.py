"""Fixtures: one real ComfyUI server for the whole session (built once, cached under .cache/)."""

from __future__ import annotations

import pytest

from tests.comfy.checkpoint import CHECKPOINT_NAME
from tests.comfy.server import SERVER_THREADS, ComfyServer, ServerInstall, ensure_install


@pytest.fixture(scope="session")
def comfy_install() -> ServerInstall:
    return ensure_install()


@pytest.fixture(scope="session")
def comfy_server(comfy_install, tmp_path_factory):
    server = ComfyServer(comfy_install, tmp_path_factory.mktemp("comfy-server"), threads=SERVER_THREADS).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def checkpoint_name() -> str:
    return CHECKPOINT_NAME
