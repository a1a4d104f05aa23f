"""`--help`, `models` and `info` answer at once: they never import torch or the model libraries."""

import subprocess
import sys

import pytest
from PIL import Image

HEAVY = ("torch", "diffusers", "transformers")

PROBE = """
import atexit, sys
atexit.register(lambda: print("HEAVY:" + ",".join(n for n in {heavy!r} if n in sys.modules), file=sys.stderr))
from sdstudio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_probe(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("argv", [("--help",), ("models",), ("generate", "--help")])
def test_light_commands_import_no_model_library(argv):
    done = run_probe(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "HEAVY:"


def test_info_imports_no_model_library(tmp_path):
    from sdstudio.io.images import save_image

    path = tmp_path / "with-parameters.png"
    save_image(Image.new("RGB", (8, 8)), path, "a red apple\nSteps: 3, Sampler: Euler, Seed: 5")
    done = run_probe("info", str(path))
    assert done.returncode == 0, done.stderr
    assert "a red apple" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "HEAVY:"
