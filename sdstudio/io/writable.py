"""Can we write there? Asked before any compute, so a bad `--out` costs a second, not the whole run.

Each check answers with one InputError line that names the path and what to do. Permissions are
tested by trying (an unnamed file where Linux has O_TMPFILE, else a hidden temp file that is
removed at once), not by `os.access` alone: that says yes to root on a read-only bind mount, to
/proc and /sys, and to ACL-restricted folders. Nothing is created: a folder that does not exist
yet is checked at its nearest existing ancestor, where it would be made.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from sdstudio.errors import InputError
from sdstudio.io.atomic import temp_path_for

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# Room for what sdstudio adds to a name: "-12345" when the name is taken, a temp tag while writing.
NAME_MARGIN = 40


def _reason(error: OSError) -> str:
    return error.strerror or errno.errorcode.get(error.errno or 0, type(error).__name__)


def _probe(folder: Path) -> OSError | None:
    """Why a new file cannot be created in the existing directory `folder`, or None if it can."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    flag = getattr(os, "O_TMPFILE", 0)
    if flag:
        try:
            os.close(os.open(folder, flag | os.O_WRONLY, 0o600))
            return None
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.EISDIR, errno.ENOENT):
                return error
    probe = temp_path_for(folder / "probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as error:
        return error
    probe.unlink(missing_ok=True)
    return None


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_folder(folder: Path | str, what: str = "the output folder", target: Path | None = None) -> None:
    """`folder` is, or can be made as, a folder we can write new files in. `target` is the file
    the message names, when the folder is only where it goes."""
    folder = Path(folder)
    shown = f"{what} '{target if target is not None else folder}'"
    if folder.exists() and not folder.is_dir():
        if target is None:
            raise InputError(f"{shown} is a file, not a folder; choose a folder")
        raise InputError(f"cannot write {shown}: '{folder}' is a file, not a folder")
    ancestor = _existing_ancestor(folder)
    if not ancestor.is_dir():
        raise InputError(f"cannot write {shown}: '{ancestor}' is a file, not a folder")
    error = _probe(ancestor)
    if error is not None:
        raise InputError(f"cannot write {shown}: no new files can be made in '{ancestor}' ({_reason(error)}); "
                         "choose another folder")


def check_output_file(path: Path | str, what: str = "--out", suffixes: Iterable[str] | None = IMAGE_SUFFIXES) -> None:
    """`path` names a file we can create (an existing file is fine: outputs take a new name then)."""
    path = Path(path)
    allowed = tuple(suffixes) if suffixes is not None else None
    if allowed is not None and path.suffix.lower() not in allowed:
        raise InputError(f"cannot write '{path.name}': use a {', '.join(allowed[:-1])} or {allowed[-1]} file name")
    if path.is_dir():
        example = path / f"image{allowed[0] if allowed else '.png'}"
        raise InputError(f"{what} '{path}' is a folder; give a file name inside it, like '{example}'")
    if path.exists() and not path.is_file():
        raise InputError(f"{what} '{path}' is not a regular file (a device or pipe); give an image file name")
    limit = _name_max(_existing_ancestor(path.parent))
    if len(os.fsencode(path.name)) + NAME_MARGIN > limit:
        raise InputError(f"{what} file name is too long ({len(os.fsencode(path.name))} bytes; at most "
                         f"{limit - NAME_MARGIN} here)")
    check_output_folder(path.parent, what, target=path)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255
