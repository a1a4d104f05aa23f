"""Output names are claimed atomically: racing writers keep every image, and a kill -9 leaves only
whole images behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from sdstudio import PROJECT_ROOT
from sdstudio.io import atomic
from sdstudio.io.atomic import (
    is_temp_name,
    sweep_stale_temps,
    temp_path_for,
    unnamed_writes_supported,
    write_new,
    write_new_via_path,
)
from sdstudio.io.images import save_new_image, save_output

PER_PROCESS = 200


def _use_named_temps() -> None:
    """Force the portable strategy (named temp + link), as on a filesystem without O_TMPFILE."""
    atomic._fd_linker = lambda device, folder: None


def _save_many(folder: str, barrier, named: bool) -> None:
    """One racing writer: waits for the other, then saves PER_PROCESS images with the same seed."""
    if named:
        _use_named_temps()
    image = Image.new("RGB", (8, 8), (os.getpid() % 256, 0, 0))
    barrier.wait()
    for index in range(PER_PROCESS):
        save_output(image, folder, 7, f"writer {os.getpid()} image {index}")


@pytest.mark.parametrize("strategy", ["unnamed", "named"])
def test_two_processes_saving_into_one_folder_keep_every_image(tmp_path, strategy):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    writers = [context.Process(target=_save_many, args=(str(tmp_path), barrier, strategy == "named"))
               for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 * PER_PROCESS
    assert not [name for name in names if name.startswith(".")]
    texts = set()
    for name in names:
        with Image.open(tmp_path / name) as image:
            image.load()
            texts.add(image.text["parameters"])
    assert len(texts) == 2 * PER_PROCESS  # every image of both writers is there, none replaced another


KILLED_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from PIL import Image
    from sdstudio.io.images import save_output
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (192, 192, 3), dtype=np.uint8))
    while True:
        print(save_output(image, sys.argv[1], 3, "kept whole"), flush=True)
""")


def test_kill_9_mid_batch_leaves_whole_images_and_no_temp_file(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=PROJECT_ROOT)
    reported = [writer.stdout.readline().strip() for _ in range(12)]
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(30)
    writer.stdout.close()
    names = os.listdir(tmp_path)
    assert all(Path(path).name in names for path in reported)
    for name in names:
        if not name.startswith("."):
            with Image.open(tmp_path / name) as image:
                image.load()
                assert image.text["parameters"] == "kept whole"
    if unnamed_writes_supported(tmp_path):
        assert not [name for name in names if name.startswith(".")]
    save_output(Image.new("RGB", (8, 8)), tmp_path, 4)  # the next write sweeps what a dead writer left
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_stale_temp_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    mine = temp_path_for(tmp_path / "walk.mp4")
    dead = mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    for path in (mine, dead):
        path.write_bytes(b"half")
        assert is_temp_name(path.name)
    other_file = tmp_path / ".notes.txt"
    other_file.write_text("not ours")
    assert sweep_stale_temps(tmp_path) == [dead]
    assert mine.exists() and other_file.exists() and not dead.exists()


def test_write_new_never_replaces_even_when_every_name_is_taken(tmp_path):
    (tmp_path / "a.png").write_bytes(b"first")
    with pytest.raises(FileExistsError):
        write_new(tmp_path, ["a.png"], lambda handle: handle.write(b"second"))
    assert (tmp_path / "a.png").read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["a.png"]


@pytest.mark.parametrize("strategy", ["unnamed", "named"])
def test_out_onto_an_existing_file_writes_name_dash_1(tmp_path, monkeypatch, strategy):
    if strategy == "named":
        monkeypatch.setattr(atomic, "_fd_linker", lambda device, folder: None)
    target = tmp_path / "cat.png"
    target.write_bytes(b"my earlier work")
    first = save_new_image(Image.new("RGB", (8, 8)), target, "p")
    second = save_new_image(Image.new("RGB", (8, 8)), target, "p")
    assert (first.name, second.name) == ("cat-1.png", "cat-2.png")
    assert target.read_bytes() == b"my earlier work"
    batch = [save_new_image(Image.new("RGB", (8, 8)), tmp_path / "dog.png", numbered=True) for _ in range(2)]
    assert [path.name for path in batch] == ["dog-1.png", "dog-2.png"]
    assert sorted(os.listdir(tmp_path)) == ["cat-1.png", "cat-2.png", "cat.png", "dog-1.png", "dog-2.png"]


def test_writers_that_need_a_path_claim_names_too(tmp_path):
    (tmp_path / "walk.bin").write_bytes(b"old")
    written = write_new_via_path(tmp_path, ["walk.bin", "walk-1.bin"], lambda temp: temp.write_bytes(b"new"), ".bin")
    assert written.name == "walk-1.bin" and written.read_bytes() == b"new"
    assert (tmp_path / "walk.bin").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["walk-1.bin", "walk.bin"]


def test_a_failed_write_leaves_nothing(tmp_path):
    def explode(handle):
        handle.write(b"half an image")
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError):
        write_new(tmp_path, ["x.png"], explode)
    def explode_at(temp: Path) -> None:
        with temp.open("wb") as handle:
            explode(handle)

    with pytest.raises(RuntimeError):
        write_new_via_path(tmp_path, ["y.png"], explode_at, ".png")
    assert os.listdir(tmp_path) == []
