"""The LoRAs, embeddings and VAEs installed, kept current for the browser, the prompt and the VAE combo.

With a backend that has files of its own (a ComfyUI server), the catalog lists those instead
(`show_server`), so the browser, the prompt colours and the VAE choices offer what will be found.

Discovery walks folders and reads each file's safetensors header (its metadata: base model,
trigger words). On a slow or network drive that is more than a frame, so it runs on a plain
worker thread and the result comes back to the GUI thread by a queued signal. The folders are
watched: dropping a LoRA into `loras/` shows it without a restart.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import shiboken6
from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from sdstudio.engine.discovery import NetworkInfo, discover_networks, network_dirs, trigger_words
from sdstudio.engine.safetensors_header import read_header
from sdstudio.errors import SdStudioError

KINDS = ("lora", "embedding", "vae")
UNREADABLE = "Its safetensors header cannot be read: the file is truncated or not a safetensors file."
MetadataSource = Callable[[str, str], Awaitable[dict[str, str]]]  # (kind, name) -> the file's metadata
RESCAN_DELAY_MS = 300  # a copy of many files changes a folder many times: scan once it settles


@dataclass(frozen=True)
class NetworkEntry:
    """One file and what its header says, read on the worker thread so the browser never reads files."""

    name: str
    kind: str  # "lora", "embedding" or "vae"
    path: Path
    alias: str = ""
    base_model: str = ""
    trigger_words: tuple[str, ...] = ()
    problem: str = ""  # why the header could not be read ("" when it could)
    location: str = ""  # where it is when not on this computer: a server's URL
    described: bool = True  # False: a server's file whose metadata has not been asked for yet

    @property
    def where(self) -> str:
        return f"on {self.location}" if self.location else str(self.path)

    @property
    def snippet(self) -> str:
        """What a click puts in the prompt: A1111's tag for a LoRA, the word itself for an embedding."""
        return lora_tag(self.name) if self.kind == "lora" else self.name


def lora_tag(name: str, weight: float = 1.0) -> str:
    return f"<lora:{name}:{weight:g}>"


def describe_network(info: NetworkInfo) -> NetworkEntry:
    """The entry for a discovered file; a broken header is a `problem`, never an exception."""
    try:
        if info.path.suffix.lower() == ".safetensors" and not read_header(info.path).shapes:
            return NetworkEntry(info.name, info.kind, info.path, problem=UNREADABLE)
        return NetworkEntry(info.name, info.kind, info.path, info.alias if info.alias != info.name else "",
                            info.base_model, tuple(info.trigger_words))
    except (SdStudioError, OSError, ValueError) as error:
        return NetworkEntry(info.name, info.kind, info.path, problem=str(error))


@dataclass(frozen=True)
class Scan:
    """Everything one scan found, by kind, and the folders it searched."""

    entries: dict[str, list[NetworkEntry]] = field(default_factory=dict)
    folders: dict[str, list[Path]] = field(default_factory=dict)
    error: str = ""


def scan(extra_model_dirs: Sequence[str | Path] = ()) -> Scan:
    """Discovery of every kind (runs on the worker thread)."""
    extra = [Path(folder) for folder in extra_model_dirs]
    try:
        folders = {kind: network_dirs(kind, extra) for kind in KINDS}
        entries = {kind: [describe_network(info) for info in discover_networks(kind, extra)] for kind in KINDS}
    except (OSError, SdStudioError) as error:
        return Scan(error=f"Could not list LoRAs, embeddings and VAEs: {error}")
    return Scan(entries, folders)


class _ScanRelay(QObject):
    """Carries a finished scan from the worker thread to the GUI thread.

    It lives as long as the app and the worker holds only a weak reference to the catalog: a
    thread that held the last reference to a QObject would destroy it on the wrong thread."""

    finished = Signal(object, int, object)  # weakref to the catalog, scan number, Scan

    def deliver(self, ref: weakref.ref, number: int, result: Scan) -> None:
        catalog = ref()
        if catalog is not None and shiboken6.isValid(catalog):  # its window may have closed meanwhile
            catalog._on_scanned(number, result)


_relay: _ScanRelay | None = None


def _scan_relay() -> _ScanRelay:
    """The one relay, made on the GUI thread (by the first catalog) so its slot runs there."""
    global _relay
    if _relay is None:
        _relay = _ScanRelay()
        _relay.finished.connect(_relay.deliver)
    return _relay


def _scan_in_background(relay: _ScanRelay, ref: weakref.ref, number: int, extra: tuple[str, ...]) -> None:
    relay.finished.emit(ref, number, scan(extra))


def with_metadata(entry: NetworkEntry, metadata: dict[str, str]) -> NetworkEntry:
    """A server's entry with what its file's metadata says (as a scan reads a local file's)."""
    alias = metadata.get("ss_output_name", "")
    base = metadata.get("ss_base_model_version") or metadata.get("modelspec.architecture") or ""
    return replace(entry, alias=alias if alias != entry.name else "", base_model=base,
                   trigger_words=tuple(trigger_words(metadata)), described=True)


class NetworkCatalog(QObject):
    """The last scan, refreshed on request and when a watched folder changes; `changed` after each scan.

    A server's files are described on demand (`describe`): `described(entry)` once its metadata came."""

    changed = Signal()
    described = Signal(object)  # NetworkEntry, now with its metadata

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scan = Scan()
        self._extra: tuple[str, ...] = ()
        self._number = 0
        self._scanning = False
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._folder_changed)
        self._rescan_timer = QTimer(self)
        self._rescan_timer.setSingleShot(True)
        self._rescan_timer.setInterval(RESCAN_DELAY_MS)
        self._rescan_timer.timeout.connect(self.refresh)
        self._relay = _scan_relay()
        self._server: Scan | None = None  # a backend's own files, listed instead of the scan's
        self._server_refresh: Callable[[], None] | None = None
        self._server_metadata: MetadataSource | None = None
        self._describing: dict[tuple[str, str], asyncio.Task] = {}  # kept: the loop holds tasks weakly
        self.server = ""  # where the listed files are when not on this computer ("" when they are)

    def show_server(self, names: dict[str, list[str]], where: str, refresh: Callable[[], None],
                    metadata: MetadataSource | None = None) -> None:
        """List a backend's own files by kind; `refresh` asks it to look again (Rescan), `metadata`
        for what a file says of itself (asked when an entry is first shown in detail)."""
        self._server = Scan({kind: [NetworkEntry(name, kind, Path(name), location=where, described=kind == "vae")
                                    for name in names.get(kind, [])] for kind in KINDS})
        self._server_refresh, self._server_metadata, self.server = refresh, metadata, where
        self.changed.emit()

    def describe(self, entry: NetworkEntry) -> None:
        """Ask the server for an entry's metadata in the background; `described` when it comes."""
        key = (entry.kind, entry.name)
        if entry.described or self._server_metadata is None or key in self._describing:
            return
        self._describing[key] = asyncio.ensure_future(self._describe(entry, self._server_metadata, self._server))

    async def _describe(self, entry: NetworkEntry, source: MetadataSource, listing: Scan | None) -> None:
        try:
            metadata = await source(entry.kind, entry.name)
        except Exception:  # noqa: BLE001 - a server that cannot say leaves the entry as it was
            metadata = {}
        finally:
            self._describing.pop((entry.kind, entry.name), None)
        if listing is None or listing is not self._server or not shiboken6.isValid(self):
            return  # another listing is shown by now
        described = with_metadata(entry, metadata)
        entries = listing.entries.get(entry.kind, [])
        listing.entries[entry.kind] = [described if (e.kind, e.name) == (entry.kind, entry.name) else e
                                       for e in entries]
        self.described.emit(described)

    def show_local(self) -> None:
        """Back to this computer's files (the last scan)."""
        if self._server is not None:
            self._server, self._server_refresh, self.server = None, None, ""
            self.changed.emit()

    @property
    def _shown(self) -> Scan:
        return self._server if self._server is not None else self._scan

    def entries(self, kind: str) -> list[NetworkEntry]:
        return list(self._shown.entries.get(kind, []))

    def names(self, kind: str) -> list[str]:
        return [entry.name for entry in self.entries(kind)]

    def folders(self, kind: str) -> list[Path]:
        """Where files of `kind` are looked for (for the browser to say where to put them)."""
        return list(self._shown.folders.get(kind, []))

    @property
    def error(self) -> str:
        return self._shown.error

    @property
    def scanning(self) -> bool:
        return self._scanning and self._server is None

    def refresh(self, extra_model_dirs: Sequence[str | Path] | None = None) -> None:
        """Scan again in the background (with new model folders if given); `changed` when done.

        A scan started while another runs supersedes it: only the newest result is kept. While a
        backend's files are shown, the backend is asked to look again as well."""
        if self._server_refresh is not None:
            self._server_refresh()
        if extra_model_dirs is not None:
            self._extra = tuple(str(folder) for folder in extra_model_dirs)
        self._number += 1
        self._scanning = True
        args = (self._relay, weakref.ref(self), self._number, self._extra)
        threading.Thread(target=_scan_in_background, args=args, name="network-scan", daemon=True).start()

    def _on_scanned(self, number: int, result: Scan) -> None:
        if number != self._number:
            return
        self._scan = result
        self._scanning = False
        self._watch(result)
        self.changed.emit()

    def _watch(self, result: Scan) -> None:
        """Watch the folders that exist and their subfolders (A1111 lists files in subfolders too)."""
        wanted = {str(folder) for folders in result.folders.values() for folder in folders if folder.is_dir()}
        wanted |= {str(entry.path.parent) for entries in result.entries.values() for entry in entries}
        current = set(self._watcher.directories())
        if stale := current - wanted:
            self._watcher.removePaths(sorted(stale))
        if new := wanted - current:
            self._watcher.addPaths(sorted(new))

    def _folder_changed(self, _path: str) -> None:
        self._rescan_timer.start()
