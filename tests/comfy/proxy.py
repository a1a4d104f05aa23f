"""A cloud-style front for a real ComfyUI: only `/api/...` routes, only with the bearer token.

Hosted ComfyUI sits behind proxies like this one; it lets the tests exercise the token, the
`/api/` routes (our test server, from March 2024, predates them) and a websocket that drops.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web

from tests.comfy.server import free_port

HOP_HEADERS = {"host", "authorization", "content-length", "transfer-encoding", "connection"}


class TokenProxy:
    def __init__(self, target: str, token: str) -> None:
        self.target = target.rstrip("/")
        self.token = token
        self.port = free_port()
        self.sockets: set[web.WebSocketResponse] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> TokenProxy:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.drop_websockets()
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    async def drop_websockets(self) -> None:
        """Close every client's websocket, as a flaky network or a proxy timeout would."""
        for socket in list(self.sockets):
            await socket.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if not request.path.startswith("/api/"):
            return web.Response(status=404, text="not found")
        path = request.path_qs.removeprefix("/api")
        if request.path == "/api/ws":
            return await self._bridge_websocket(request, path)
        assert self._session is not None
        headers = {key: value for key, value in request.headers.items() if key.lower() not in HOP_HEADERS}
        async with self._session.request(request.method, self.target + path, headers=headers,
                                         data=await request.read()) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status, content_type=answer.content_type)

    async def _bridge_websocket(self, request: web.Request, path: str) -> web.WebSocketResponse:
        assert self._session is not None
        client_side = web.WebSocketResponse()
        await client_side.prepare(request)
        self.sockets.add(client_side)
        async with self._session.ws_connect("ws" + self.target.removeprefix("http") + path) as server_side:
            forward = asyncio.ensure_future(self._pump(server_side, client_side))
            async for message in client_side:  # clients send nothing we need; wait for the close
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forward
        self.sockets.discard(client_side)
        return client_side

    @staticmethod
    async def _pump(source: aiohttp.ClientWebSocketResponse, sink: web.WebSocketResponse) -> None:
        async for message in source:
            if sink.closed:
                return
            if message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
        await sink.close()
