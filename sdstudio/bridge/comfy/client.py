"""HTTP to one ComfyUI server with aiohttp: the routes we use, each failure as one line.

Newer servers serve every route under `/api/...` as well as at the root, and proxies in front of
cloud hosts often forward only `/api/`: we probe `/api/system_stats` first and fall back to the
plain routes (ComfyUI up to mid-2024 has only those). A token is sent as `Authorization: Bearer`.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import aiohttp
from PIL import Image

from sdstudio.bridge.comfy.errors import ServerError, ServerUnreachable
from sdstudio.bridge.comfy.events import ImageRef
from sdstudio.bridge.comfy.server_info import ServerInfo, SystemStats, parse_object_info, parse_system_stats

CONNECT_TIMEOUT_S = 10.0


def normalized_url(url: str) -> str:
    """'host:8188' -> 'http://host:8188'; no trailing slash."""
    url = url.strip().rstrip("/")
    if not url:
        raise ServerError("no ComfyUI server URL given (e.g. http://127.0.0.1:8188)")
    return url if "://" in url else f"http://{url}"


def node_errors_line(body: dict[str, Any]) -> str:
    """A rejected prompt's reasons in one line: 'KSampler: Value not in list: sampler_name ...'."""
    reasons = []
    for node in (body.get("node_errors") or {}).values():
        for error in node.get("errors", ()):
            detail = error.get("details") or error.get("message", "")
            reasons.append(f"{node.get('class_type', '?')}: {detail}")
    error = body.get("error")
    if not reasons and isinstance(error, dict):
        reasons.append(str(error.get("message", "")))
    elif not reasons and error:
        reasons.append(str(error))
    return "; ".join(reason.replace("\n", " ") for reason in reasons) or "no reason given"


class ComfyClient:
    """One server's HTTP routes. Create with `await ComfyClient.connect(url, token)`; `close()` after."""

    def __init__(self, url: str, token: str = "", session: aiohttp.ClientSession | None = None) -> None:
        self.url = normalized_url(url)
        self.token = token
        self.prefix = ""  # "" or "/api", set by connect()
        self.client_id = uuid.uuid4().hex
        self.info = ServerInfo((), (), (), frozenset())
        self.stats = SystemStats("", "", 0, 0)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = session or aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        )

    @classmethod
    async def connect(cls, url: str, token: str = "") -> ComfyClient:
        """Reach the server, pick its routes, read its device, checkpoints and samplers."""
        client = cls(url, token)
        try:
            await client._pick_routes()
            client.stats = parse_system_stats(await client.get_json("/system_stats"))
            await client.refresh()
        except BaseException:
            await client.close()
            raise
        return client

    async def refresh(self) -> ServerInfo:
        """Re-read `/object_info` and `/embeddings` (new files appear without reconnecting)."""
        object_info = await self.get_json("/object_info")
        try:
            embeddings = await self.get_json("/embeddings")
        except ServerError:  # a server without the route: no embeddings, the rest still works
            embeddings = []
        self.info = parse_object_info(object_info, embeddings)
        return self.info

    async def close(self) -> None:
        await self.session.close()

    @property
    def websocket_url(self) -> str:
        base = "ws" + self.url.removeprefix("http")
        return f"{base}{self.prefix}/ws?clientId={self.client_id}"

    async def _pick_routes(self) -> None:
        for prefix in ("/api", ""):
            async with self._request("GET", prefix + "/system_stats") as response:
                if response.status == 200 and response.content_type == "application/json":
                    self.prefix = prefix
                    return
                if response.status not in (404, 405) and prefix == "":
                    self._raise_for(response, "/system_stats", await response.text())
        raise ServerError(f"{self.url} does not answer like a ComfyUI server (no /system_stats)")

    def _request(self, method: str, route: str, **kwargs: Any):
        return _Request(self, method, route, kwargs)

    def _raise_for(self, response: aiohttp.ClientResponse, route: str, text: str) -> None:
        if response.status in (401, 403):
            raise ServerError(f"the ComfyUI server at {self.url} refused the token (HTTP {response.status}); "
                              "check the token")
        reason = text.strip().splitlines()[0][:200] if text.strip() else response.reason
        raise ServerError(f"the ComfyUI server at {self.url} answered {route} with HTTP {response.status}: {reason}")

    async def get_json(self, route: str, **params: str) -> Any:
        async with self._request("GET", self.prefix + route, params=params or None) as response:
            text = await response.text()
            if response.status != 200:
                self._raise_for(response, route, text)
            try:
                return json.loads(text)
            except ValueError as error:
                raise ServerError(f"the ComfyUI server at {self.url} sent unreadable JSON for {route}") from error

    async def _post(self, route: str, **kwargs: Any) -> str:
        async with self._request("POST", self.prefix + route, **kwargs) as response:
            text = await response.text()
            if response.status != 200:
                self._raise_for(response, route, text)
            return text

    async def queue_prompt(self, graph: dict[str, Any]) -> str:
        """Queue a graph; the prompt id the server gives it. A rejected graph (400) says why."""
        body = {"prompt": graph, "client_id": self.client_id}
        async with self._request("POST", self.prefix + "/prompt", json=body) as response:
            text = await response.text()
            if response.status == 400:
                try:
                    reasons = node_errors_line(json.loads(text))
                except ValueError:
                    reasons = text.strip()[:200]
                raise ServerError(f"the ComfyUI server at {self.url} rejected the workflow: {reasons}")
            if response.status != 200:
                self._raise_for(response, "/prompt", text)
            return str(json.loads(text)["prompt_id"])

    async def upload_image(self, image: Image.Image, name: str) -> str:
        """Upload a PNG into the server's input folder; the name LoadImage knows it by."""
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        form = aiohttp.FormData()
        form.add_field("image", buffer.getvalue(), filename=name, content_type="image/png")
        form.add_field("overwrite", "true")
        answer = json.loads(await self._post("/upload/image", data=form))
        subfolder = answer.get("subfolder") or ""
        return f"{subfolder}/{answer['name']}" if subfolder else str(answer["name"])

    async def view(self, ref: ImageRef) -> bytes:
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        async with self._request("GET", self.prefix + "/view", params=params) as response:
            data = await response.read()
            if response.status != 200:
                self._raise_for(response, "/view", data.decode("utf-8", "replace"))
            return data

    async def file_metadata(self, folder: str, filename: str) -> dict[str, str]:
        """A .safetensors file's `__metadata__` (trigger words, base model) from `/view_metadata`;
        {} when it has none or is another kind of file (the server answers 404)."""
        if not filename.lower().endswith(".safetensors"):
            return {}
        try:
            answer = await self.get_json(f"/view_metadata/{folder}", filename=filename)
        except ServerError:
            return {}
        return {str(key): str(value) for key, value in answer.items()} if isinstance(answer, dict) else {}

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The finished prompt's entry (outputs, status), or None while it is not finished."""
        return (await self.get_json(f"/history/{prompt_id}")).get(prompt_id)

    async def queue(self) -> tuple[set[str], set[str]]:
        """The ids of the running and the pending prompts."""
        answer = await self.get_json("/queue")
        running = {str(item[1]) for item in answer.get("queue_running", ()) if len(item) > 1}
        pending = {str(item[1]) for item in answer.get("queue_pending", ()) if len(item) > 1}
        return running, pending

    async def interrupt(self) -> None:
        """Stop the prompt that is running now (ComfyUI has no per-prompt interrupt)."""
        await self._post("/interrupt", json={})

    async def delete_queued(self, prompt_ids: list[str]) -> None:
        await self._post("/queue", json={"delete": prompt_ids})


class _Request:
    """`session.request` whose connection failures become ServerUnreachable (one line, the URL)."""

    def __init__(self, client: ComfyClient, method: str, route: str, kwargs: dict[str, Any]) -> None:
        self.client, self.method, self.route, self.kwargs = client, method, route, kwargs
        self.response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        try:
            self.response = await self.client.session.request(self.method, self.client.url + self.route,
                                                              **self.kwargs)
        except (aiohttp.ClientConnectionError, aiohttp.InvalidURL, TimeoutError, OSError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ServerUnreachable(f"cannot reach the ComfyUI server at {self.client.url}: {reason}") from error
        return self.response

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, _trace: object) -> None:
        if self.response is not None:
            self.response.release()
        if isinstance(error, aiohttp.ClientError | TimeoutError):
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ServerUnreachable(f"lost the ComfyUI server at {self.client.url}: {reason}") from error
