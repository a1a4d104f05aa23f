"""The client's contract with a server: routes, token, rejected workflows, a lost websocket."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from sdstudio.bridge.comfy.batch import BatchRun
from sdstudio.bridge.comfy.connection import ComfyConnection, ConnectionState
from sdstudio.bridge.comfy.errors import ServerError, ServerUnreachable
from sdstudio.bridge.comfy.server_info import parse_object_info
from sdstudio.bridge.comfy.workflow import generation_graph
from tests.comfy.helpers import run, small_request
from tests.comfy.proxy import TokenProxy
from tests.comfy.server import free_port


def _newer_format(object_info: dict) -> dict:
    """The same /object_info with choices as newer servers send them: ["COMBO", {"options": [...]}]."""
    converted = json.loads(json.dumps(object_info))
    for node in converted.values():
        for group in node["input"].values():
            if not isinstance(group, dict):
                continue
            for name, spec in group.items():
                if isinstance(spec, list) and spec and isinstance(spec[0], list):
                    group[name] = ["COMBO", {**(spec[1] if len(spec) > 1 else {}), "options": spec[0]}]
    return converted


def test_object_info_in_both_option_formats(comfy_server, checkpoint_name):
    with urllib.request.urlopen(f"{comfy_server.url}/object_info", timeout=60) as answer:
        object_info = json.load(answer)
    old, new = parse_object_info(object_info), parse_object_info(_newer_format(object_info))
    assert old == new
    assert old.checkpoints == (checkpoint_name,)
    assert {"euler", "euler_ancestral", "dpmpp_2m", "ddim", "uni_pc", "lcm"} <= set(old.samplers)
    assert {"normal", "karras", "ddim_uniform"} <= set(old.schedulers)
    assert old.has_inpaint_conditioning and "SetLatentNoiseMask" in old.nodes


def test_unreachable_server_is_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerUnreachable, match=f"^cannot reach the ComfyUI server at {url}: ") as error:
        run(ComfyConnection.open(url))
    assert "\n" not in str(error.value)


def test_api_routes_and_token_through_a_proxy(comfy_server):
    """A proxy that serves only /api/... and wants a bearer token: a wrong token is refused in one
    line; the right one connects over /api/ and runs a job with its previews."""

    async def through_proxy():
        async with TokenProxy(comfy_server.url, "s3cret") as proxy:
            with pytest.raises(ServerError, match=f"server at {proxy.url} refused the token \\(HTTP 401\\)"):
                await ComfyConnection.open(proxy.url, token="wrong")
            connection = await ComfyConnection.open(proxy.url, token="s3cret")
            try:
                previews = []
                images = await BatchRun([connection], small_request(seed=31),
                                        on_preview=lambda i, preview: previews.append(preview)).run()
                return connection.client.prefix, images, previews
            finally:
                await connection.close()

    prefix, images, previews = run(through_proxy())
    assert prefix == "/api"
    assert images[0].image.size == (64, 64) and len(previews) == 4


def test_rejected_workflow_names_the_node_and_the_reason(comfy_server):
    async def rejected():
        connection = await ComfyConnection.open(comfy_server.url)
        try:
            batch = BatchRun([connection], small_request())
            graph = generation_graph(batch.request, batch.checkpoint, _sampler("no_such_sampler"), _uploads())
            await connection.run_prompt(graph)
        finally:
            await connection.close()

    with pytest.raises(ServerError, match="rejected the workflow: KSampler: .*no_such_sampler") as error:
        run(rejected())
    assert "\n" not in str(error.value)


def test_lost_websocket_reconnects_and_the_job_still_finishes(comfy_server):
    async def drop_mid_job():
        async with TokenProxy(comfy_server.url, "t") as proxy:
            connection = await ComfyConnection.open(proxy.url, token="t", backoff=(0.1, 0.2, 0.5, 1.0, 2.0))
            states = []
            connection.status_listeners.append(lambda status: states.append(status.state))
            try:
                first_step = asyncio.Event()
                job = asyncio.ensure_future(BatchRun([connection], small_request(steps=12, seed=41),
                                                     on_step=lambda i, step, total: first_step.set()).run())
                await first_step.wait()
                await proxy.drop_websockets()
                images = await job
                return images, states
            finally:
                await connection.close()

    images, states = run(drop_mid_job())
    assert images[0].image.size == (64, 64)
    assert ConnectionState.RECONNECTING in states and states[-1] is ConnectionState.CONNECTED


def _sampler(name: str):
    from sdstudio.bridge.comfy.samplers import ComfySampler

    return ComfySampler(name, "normal")


def _uploads():
    from sdstudio.bridge.comfy.workflow import Uploads

    return Uploads()
