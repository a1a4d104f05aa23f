"""One live server: its HTTP client, one websocket for its events, and the prompts we wait for.

The websocket is opened with our client id, so the server sends us the progress, previews and
results of our own prompts. If it closes, we reconnect with backoff under the same id (the server
then resumes sending) and ask `/history` and `/queue` what happened meanwhile; if it does not come
back, every waiting prompt fails with one line and the next job tries a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from PIL import Image

from sdstudio.bridge.comfy.client import ComfyClient
from sdstudio.bridge.comfy.errors import ConnectionLost, ServerError, ServerUnreachable
from sdstudio.bridge.comfy.events import (
    Event,
    Executed,
    Executing,
    ExecutionError,
    ExecutionInterrupted,
    ExecutionStart,
    ImageRef,
    Preview,
    ProgressEvent,
    Status,
    image_refs,
    parse_binary,
    parse_text,
)
from sdstudio.errors import Cancelled

BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)  # waits before each reconnect attempt (~8 s in all)
EARLY_PROMPTS_KEPT = 32  # events that arrive before POST /prompt has told us the id wait here


class ConnectionState(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LOST = "lost"


@dataclass(frozen=True)
class ServerStatus:
    """What the status bar shows for one server."""

    url: str
    state: ConnectionState
    device: str
    queue_remaining: int


@dataclass(frozen=True)
class _Resync:
    """Pushed to every waiting prompt after a reconnect: look up what happened meanwhile."""


@dataclass(frozen=True)
class _Lost:
    error: ServerError


@dataclass(frozen=True)
class _Deleted:
    """Our queue delete removed the prompt before it ran: the server will say nothing more."""


ProgressListener = Callable[[int, int, str | None], None]  # step, total, sampler node id
PreviewListener = Callable[[Preview], None]


class ComfyConnection:
    """Create with `await ComfyConnection.open(url, token)`; run graphs with `run_prompt`."""

    def __init__(self, client: ComfyClient, backoff: tuple[float, ...] = BACKOFF_S) -> None:
        self.client = client
        self.backoff = backoff
        self.state = ConnectionState.LOST
        self.queue_remaining = 0
        self.status_listeners: list[Callable[[ServerStatus], None]] = []
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._listener: asyncio.Task | None = None
        self._watches: dict[str, asyncio.Queue] = {}
        self._early: OrderedDict[str, list[Any]] = OrderedDict()
        self._cancelled: set[str] = set()
        self._running: str | None = None  # our prompt the server is executing now
        self._closing = False

    @classmethod
    async def open(cls, url: str, token: str = "", backoff: tuple[float, ...] = BACKOFF_S) -> ComfyConnection:
        client = await ComfyClient.connect(url, token)
        connection = cls(client, backoff)
        try:
            await connection._start_listening()
        except BaseException:
            await client.close()
            raise
        return connection

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def status(self) -> ServerStatus:
        return ServerStatus(self.url, self.state, self.client.stats.summary, self.queue_remaining)

    # --- the websocket ----------------------------------------------------------------------

    async def _open_socket(self) -> aiohttp.ClientWebSocketResponse:
        try:
            return await self.client.session.ws_connect(self.client.websocket_url, heartbeat=30.0)
        except aiohttp.WSServerHandshakeError as error:
            if error.status in (401, 403):
                raise ServerError(f"the ComfyUI server at {self.url} refused the token (HTTP {error.status}); "
                                  "check the token") from error
            raise ServerUnreachable(f"the ComfyUI server at {self.url} refused the websocket "
                                    f"(HTTP {error.status})") from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ServerUnreachable(f"cannot reach the ComfyUI server at {self.url}: {reason}") from error

    async def _start_listening(self) -> None:
        self._socket = await self._open_socket()
        self._set_state(ConnectionState.CONNECTED)
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            assert self._socket is not None
            async for message in self._socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    event = parse_text(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    event = parse_binary(message.data)
                else:
                    break
                if event is not None:
                    self._dispatch(event)
            if self._closing:
                return
            self._running = None
            self._set_state(ConnectionState.RECONNECTING)
            if not await self._reconnect():
                lost = ConnectionLost(f"lost the connection to the ComfyUI server at {self.url} "
                                      f"and could not reconnect within {sum(self.backoff):g} s")
                self._set_state(ConnectionState.LOST)
                for queue in self._watches.values():
                    queue.put_nowait(_Lost(lost))
                return
            self._set_state(ConnectionState.CONNECTED)
            for queue in self._watches.values():
                queue.put_nowait(_Resync())

    async def _reconnect(self) -> bool:
        for delay in self.backoff:
            await asyncio.sleep(delay)
            if self._closing:
                return False
            try:
                self._socket = await self._open_socket()
            except ServerError:
                continue
            with contextlib.suppress(ServerError):  # a restarted server may have other files now
                await self.client.refresh()
            return True
        return False

    def _set_state(self, state: ConnectionState) -> None:
        self.state = state
        for listener in list(self.status_listeners):
            listener(self.status)

    def _dispatch(self, event: Event) -> None:
        """Route one event to the prompt it belongs to (previews: the one running now)."""
        prompt_id: str | None
        match event:
            case Status(queue_remaining=remaining):
                self.queue_remaining = remaining
                self._set_state(self.state)
                return
            case ExecutionStart(prompt_id=prompt_id):
                self._running = prompt_id
            case Executing(prompt_id=prompt_id, node=node):
                self._running = prompt_id if node is not None else None
            case ProgressEvent(prompt_id=prompt_id):
                prompt_id = prompt_id or self._running
            case Preview():
                prompt_id = self._running
            case Executed(prompt_id=prompt_id) | ExecutionError(prompt_id=prompt_id):
                pass
            case ExecutionInterrupted(prompt_id=prompt_id):
                pass
        if prompt_id is None:
            return
        queue = self._watches.get(prompt_id)
        if queue is not None:
            queue.put_nowait(event)
            return
        self._early.setdefault(prompt_id, []).append(event)
        while len(self._early) > EARLY_PROMPTS_KEPT:
            self._early.popitem(last=False)

    # --- prompts ----------------------------------------------------------------------------

    async def ensure_connected(self) -> None:
        """A lost connection is tried afresh (the server may be back); raise if it is not."""
        if self.state is ConnectionState.LOST:
            await self._start_listening()

    async def run_prompt(self, graph: dict[str, Any], on_progress: ProgressListener | None = None,
                         on_preview: PreviewListener | None = None) -> list[Image.Image]:
        """Queue `graph`, report its progress and previews, return its output images in order.

        Raises ServerError (rejected graph, node error), ConnectionLost, or Cancelled (after cancel())."""
        await self.ensure_connected()
        posting = asyncio.ensure_future(self.client.queue_prompt(graph))
        try:
            prompt_id = await asyncio.shield(posting)
        except asyncio.CancelledError:  # cancelled while queueing: the prompt may be queued all the same
            with contextlib.suppress(ServerError):
                orphan = await posting
                await self.cancel(orphan)
                self._cancelled.discard(orphan)
            raise
        queue: asyncio.Queue = asyncio.Queue()
        for event in self._early.pop(prompt_id, ()):
            queue.put_nowait(event)
        self._watches[prompt_id] = queue
        try:
            refs = await self._follow(prompt_id, queue, on_progress, on_preview)
            if prompt_id in self._cancelled:
                raise Cancelled()
            return [await self._fetch(ref) for ref in refs]
        except asyncio.CancelledError:
            with contextlib.suppress(ServerError):
                await asyncio.shield(self.cancel(prompt_id))
            raise
        finally:
            self._watches.pop(prompt_id, None)
            self._cancelled.discard(prompt_id)

    async def _follow(self, prompt_id: str, queue: asyncio.Queue, on_progress: ProgressListener | None,
                      on_preview: PreviewListener | None) -> list[ImageRef]:
        """Events of one prompt until it ends; its output images (from `/history`, which also
        lists outputs the server took from its cache without running them again)."""
        while True:
            event = await queue.get()
            match event:
                case ProgressEvent(value=value, maximum=maximum, node=node) if on_progress is not None:
                    on_progress(value, maximum, node)
                case Preview() if on_preview is not None:
                    on_preview(event)
                case Executing(node=None):
                    return await self._outputs(prompt_id)
                case ExecutionError(node_type=node_type, message=message):
                    raise ServerError(f"the ComfyUI server at {self.url} failed in {node_type}: {message}")
                case ExecutionInterrupted() | _Deleted():
                    raise Cancelled()
                case _Lost(error=error):
                    raise error
                case _Resync():
                    entry = await self._finished_or_waiting(prompt_id)
                    if entry is not None:
                        return self._entry_outputs(entry)

    async def _finished_or_waiting(self, prompt_id: str) -> dict[str, Any] | None:
        """After a reconnect: the prompt's history entry if it finished, None if it still waits."""
        entry = await self.client.history(prompt_id)
        if entry is not None:
            return entry
        running, pending = await self.client.queue()
        if prompt_id in running or prompt_id in pending:
            return None
        entry = await self.client.history(prompt_id)  # it may have finished between the two reads
        if entry is not None:
            return entry
        raise ConnectionLost(f"the ComfyUI server at {self.url} lost the job (it restarted?); generate again")

    async def _outputs(self, prompt_id: str) -> list[ImageRef]:
        entry = await self.client.history(prompt_id)
        if entry is None:
            raise ServerError(f"the ComfyUI server at {self.url} finished the job but has no record of it")
        return self._entry_outputs(entry)

    def _entry_outputs(self, entry: dict[str, Any]) -> list[ImageRef]:
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            for name, data in status.get("messages", ()):
                if name == "execution_interrupted":
                    raise Cancelled()
                if name == "execution_error":
                    raise ServerError(f"the ComfyUI server at {self.url} failed in {data.get('node_type', '?')}: "
                                      f"{str(data.get('exception_message', '')).strip()}")
            raise ServerError(f"the ComfyUI server at {self.url} failed the job")
        outputs = entry.get("outputs") or {}
        refs = [ref for node in sorted(outputs, key=_node_order) for ref in image_refs(outputs[node])]
        if not refs:
            raise ServerError(f"the ComfyUI server at {self.url} finished the job without an image")
        return refs

    async def _fetch(self, ref: ImageRef) -> Image.Image:
        data = await self.client.view(ref)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")
        except (OSError, ValueError) as error:
            raise ServerError(f"the ComfyUI server at {self.url} sent an unreadable image") from error

    async def cancel(self, prompt_id: str) -> None:
        """Stop one of our prompts: interrupt it if it runs, take it off the queue if it waits."""
        self._cancelled.add(prompt_id)
        if self._running == prompt_id:
            await self.client.interrupt()
            return
        await self.client.delete_queued([prompt_id])
        running, pending = await self.client.queue()
        if prompt_id in running:
            await self.client.interrupt()
        elif prompt_id not in pending and prompt_id in self._watches:
            queue = self._watches[prompt_id]
            if self._running != prompt_id:
                queue.put_nowait(_Deleted())

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            await self._socket.close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.client.close()


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), node_id) if node_id.isdigit() else (1 << 30, node_id)


async def connect_all(urls: list[str], token: str = "") -> list[ComfyConnection]:
    """Open every server (concurrently); if any fails, close the others and raise its error."""
    results = await asyncio.gather(*(ComfyConnection.open(url, token) for url in urls), return_exceptions=True)
    failed = [result for result in results if isinstance(result, BaseException)]
    if failed:
        for result in results:
            if isinstance(result, ComfyConnection):
                await result.close()
        raise failed[0]
    return list(results)  # type: ignore[arg-type]
