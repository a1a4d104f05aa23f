"""The server's websocket messages as typed events.

JSON text frames are `{"type": ..., "data": {...}}`; binary frames start with two big-endian
uint32: the event type (1 = preview image) and the image format (1 = JPEG, 2 = PNG), then the
image bytes. A preview frame carries no prompt id: it belongs to the prompt running on that server.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

PREVIEW_EVENT = 1
PREVIEW_FORMATS = {1: "JPEG", 2: "PNG"}
HEADER = struct.Struct(">II")


@dataclass(frozen=True)
class ImageRef:
    """An image the server wrote, as `/view` takes it."""

    filename: str
    subfolder: str = ""
    type: str = "output"


@dataclass(frozen=True)
class Status:
    queue_remaining: int


@dataclass(frozen=True)
class ExecutionStart:
    prompt_id: str


@dataclass(frozen=True)
class Executing:
    prompt_id: str
    node: str | None  # None: the prompt has finished


@dataclass(frozen=True)
class ProgressEvent:
    prompt_id: str | None
    value: int
    maximum: int
    node: str | None = None  # the sampler node running (a hires graph has two)


@dataclass(frozen=True)
class Executed:
    prompt_id: str
    node: str
    images: tuple[ImageRef, ...]


@dataclass(frozen=True)
class ExecutionError:
    prompt_id: str
    node_type: str
    message: str


@dataclass(frozen=True)
class ExecutionInterrupted:
    prompt_id: str


@dataclass(frozen=True)
class Preview:
    format: str  # "JPEG" or "PNG"
    data: bytes


Event = Status | ExecutionStart | Executing | ProgressEvent | Executed | ExecutionError | ExecutionInterrupted | Preview


def image_refs(output: dict[str, Any]) -> tuple[ImageRef, ...]:
    """The images of one node's output (`{"images": [{"filename", "subfolder", "type"}]}`)."""
    return tuple(ImageRef(str(item["filename"]), str(item.get("subfolder", "")), str(item.get("type", "output")))
                 for item in output.get("images", ()) if isinstance(item, dict) and "filename" in item)


def parse_text(text: str) -> Event | None:
    """One JSON frame -> an event, or None for messages we do not use (or cannot read)."""
    try:
        message = json.loads(text)
        kind, data = message["type"], message.get("data") or {}
        return _parse(kind, data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _parse(kind: str, data: dict[str, Any]) -> Event | None:
    prompt_id = data.get("prompt_id")
    match kind:
        case "status":
            return Status(int(data.get("status", {}).get("exec_info", {}).get("queue_remaining", 0)))
        case "execution_start":
            return ExecutionStart(str(prompt_id))
        case "executing":
            node = data.get("node")
            return Executing(str(prompt_id), None if node is None else str(node))
        case "progress":
            node = data.get("node")
            return ProgressEvent(None if prompt_id is None else str(prompt_id), int(data["value"]), int(data["max"]),
                                 None if node is None else str(node))
        case "executed":
            return Executed(str(prompt_id), str(data.get("node")), image_refs(data.get("output") or {}))
        case "execution_error":
            message = str(data.get("exception_message", "")).strip().splitlines()
            return ExecutionError(str(prompt_id), str(data.get("node_type", "")), message[0] if message else "")
        case "execution_interrupted":
            return ExecutionInterrupted(str(prompt_id))
    return None


def parse_binary(data: bytes) -> Preview | None:
    """One binary frame -> a preview, or None for other binary events."""
    if len(data) <= HEADER.size:
        return None
    event, image_format = HEADER.unpack_from(data)
    if event != PREVIEW_EVENT or image_format not in PREVIEW_FORMATS:
        return None
    return Preview(PREVIEW_FORMATS[image_format], bytes(data[HEADER.size:]))
