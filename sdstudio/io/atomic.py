"""Atomic file writes: a file appears complete under its name, or not at all, and never over another.

Two ways to write, for two intents:

- `atomic_path(path)` *replaces* `path` (settings, an export the user confirmed, a preview): the
  data goes to a hidden temp sibling, is flushed to disk, then `os.replace`d over the target
  (atomic on POSIX and Windows). A crash or an exception mid-write leaves no partial file.
- `write_new(folder, names, write)` creates a *new* file under the first free name of `names`
  and never replaces anything, even with other processes writing the same folder at the same
  moment. The name is claimed by hard-linking the finished file to it: link(2) fails with EEXIST
  where rename(2) would silently overwrite (the trick of Maildir and git's object store). The
  "pick the next free number, then rename onto it" race, where two writers pick one number and
  the second wins, cannot happen.

Where Linux allows it, a new file is written into an unnamed inode (O_TMPFILE) that gets its name
only once complete, so a kill -9 at any moment leaves nothing behind. Elsewhere the temp file is
a hidden sibling whose name carries the writer's host and pid; every later write into that
folder deletes the temp files of writers that are gone (`sweep_stale_temps`).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import re
import secrets
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

Writer = Callable[[BinaryIO], object]

_HOST_TAG = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:6]
TEMP_NAME = re.compile(r"^\..*\.tmp-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}(?:\.[^.]*)?$")
# link(2) errors that mean "this filesystem has no hard links" (FAT, exFAT, some FUSE mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}
_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000


def temp_path_for(path: Path) -> Path:
    """A hidden sibling name tagged with host and pid, keeping the suffix (Pillow and imageio pick
    the format from it)."""
    token = f"{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.stem}.tmp-{token}{path.suffix}")


def is_temp_name(name: str) -> bool:
    return TEMP_NAME.match(name) is not None


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Delete the temp files in `folder` left by writers of this host that no longer run (a kill -9
    mid-write). Only on POSIX, where probing a pid is harmless (on Windows os.kill terminates)."""
    if os.name != "posix":
        return []
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        match = TEMP_NAME.match(name)
        if match and match["host"] == _HOST_TAG and not _writer_alive(int(match["pid"])):
            with suppress(OSError):
                (folder / name).unlink()
                removed.append(folder / name)
    return removed


def _sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path`, else it is removed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(target.parent)
    temp = temp_path_for(target)
    try:
        yield temp
        if temp.is_file():
            with temp.open("rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_path(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


# --- new files under a claimed name ------------------------------------------------------------


def _open_unnamed(folder: Path) -> int | None:
    """An unnamed file in `folder` (Linux O_TMPFILE), or None where the OS or filesystem has none."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        return os.open(folder, flag | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError:
        return None


def _link_via_proc(fd: int, target: Path) -> None:
    os.link(f"/proc/self/fd/{fd}", target, follow_symlinks=True)


def _link_empty_path(fd: int, target: Path) -> None:
    """linkat(fd, "", AT_FDCWD, target, AT_EMPTY_PATH): names an O_TMPFILE inode where /proc can't."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(target), _AT_EMPTY_PATH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


@functools.cache
def _fd_linker(device: int, folder: str) -> Callable[[int, Path], None] | None:
    """Which way (if any) gives an unnamed file a name on this filesystem, probed once."""
    if not sys.platform.startswith("linux"):
        return None
    for linker in (_link_via_proc, _link_empty_path):
        fd = _open_unnamed(Path(folder))
        if fd is None:
            return None
        probe = temp_path_for(Path(folder) / "probe")
        try:
            linker(fd, probe)
        except OSError:
            continue
        else:
            probe.unlink(missing_ok=True)
            return linker
        finally:
            os.close(fd)
    return None


def unnamed_writes_supported(folder: Path | str) -> bool:
    """Whether new files in `folder` are written unnamed until complete (nothing left on kill -9)."""
    folder = Path(folder)
    return _fd_linker(folder.stat().st_dev, str(folder)) is not None


@functools.cache
def _hard_links(device: int, folder: str) -> bool:
    """Whether this filesystem has hard links (FAT and exFAT have none), probed once."""
    source = temp_path_for(Path(folder) / "probe")
    target = temp_path_for(Path(folder) / "probe")
    try:
        source.touch(exist_ok=False)
        os.link(source, target)
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        return False
    finally:
        source.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
    return True


def _first_free(names: Iterator[str], folder: Path, link: Callable[[Path], None]) -> Path:
    for name in names:
        target = folder / name
        try:
            link(target)
        except FileExistsError:
            continue
        return target
    raise FileExistsError(errno.EEXIST, "every candidate name is taken", str(folder))


def _exclusive_replace(temp: Path, target: Path) -> None:
    """Claim `target` by exclusive create, then move the data onto the claim. For filesystems
    without hard links only: a kill between the two steps leaves an empty file."""
    os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    os.replace(temp, target)


def write_new(folder: Path | str, names: Iterable[str], write: Writer) -> Path:
    """Write a new file (its bytes from `write(handle)`) under the first name of `names` that is
    free in `folder`, claimed atomically; nothing that exists is ever replaced."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(folder)
    candidates = iter(names)
    linker = _fd_linker(folder.stat().st_dev, str(folder))
    fd = _open_unnamed(folder) if linker is not None else None
    if linker is not None and fd is not None:
        with os.fdopen(fd, "w+b") as handle:
            write(handle)
            _sync(handle)
            return _first_free(candidates, folder, functools.partial(linker, handle.fileno()))
    temp = temp_path_for(folder / "new")
    try:
        with temp.open("xb") as handle:
            write(handle)
            _sync(handle)
        claim = os.link if _hard_links(folder.stat().st_dev, str(folder)) else _exclusive_replace
        return _first_free(candidates, folder, functools.partial(claim, temp))
    finally:
        temp.unlink(missing_ok=True)


PathWriter = Callable[[Path], object]


def write_new_via_path(folder: Path | str, names: Iterable[str], write: PathWriter, suffix: str = "") -> Path:
    """`write_new` for writers that need a path (ffmpeg): a hidden, pid-tagged temp file that is
    then linked to the first free name. A kill -9 mid-write leaves that temp file, which the next
    write into the folder removes (`sweep_stale_temps`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(folder)
    temp = temp_path_for(folder / f"new{suffix}")
    try:
        write(temp)
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        claim = os.link if _hard_links(folder.stat().st_dev, str(folder)) else _exclusive_replace
        return _first_free(iter(names), folder, functools.partial(claim, temp))
    finally:
        temp.unlink(missing_ok=True)
