"""Several servers: a batch shared between two, and a server that dies or restarts under a job.

The fault tests come last: they kill this module's second server (the restart test brings it back)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from sdstudio.bridge.comfy.batch import BatchRun
from sdstudio.bridge.comfy.connection import ComfyConnection, ConnectionState
from sdstudio.bridge.comfy.errors import ConnectionLost, ServerUnreachable
from tests.comfy.helpers import pixels, run, small_request
from tests.comfy.server import SERVER_THREADS, ComfyServer


@pytest.fixture(scope="module")
def second_server(comfy_install, tmp_path_factory):
    server = ComfyServer(comfy_install, tmp_path_factory.mktemp("comfy-second"), threads=SERVER_THREADS).start()
    yield server
    server.stop()


def test_two_servers_share_a_batch_and_results_come_in_order(comfy_server, second_server):
    async def shared():
        connections = [await ComfyConnection.open(server.url) for server in (comfy_server, second_server)]
        try:
            released = []
            images = await BatchRun(connections, small_request(seed=100, batch_count=4),
                                    on_image=lambda image: released.append(image.index)).run()
            (alone,) = await BatchRun(connections[:1], small_request(seed=images[3].request.seed)).run()
            return images, released, alone
        finally:
            for connection in connections:
                await connection.close()

    images, released, alone = run(shared())
    assert released == [0, 1, 2, 3]
    assert [image.request.seed for image in images] == [100, 101, 102, 103]
    assert {image.server for image in images} == {comfy_server.url, second_server.url}
    assert images[3].server == second_server.url
    assert np.array_equal(pixels(images[3].image), pixels(alone.image))  # same image whichever server made it


def test_server_killed_mid_job_fails_that_job_clearly_and_the_rest_goes_on(comfy_server, second_server):
    async def kill_mid_job():
        doomed = await ComfyConnection.open(second_server.url, backoff=(0.1, 0.2, 0.4))
        healthy = await ComfyConnection.open(comfy_server.url)
        try:
            first_step = asyncio.Event()
            job = asyncio.ensure_future(BatchRun([doomed], small_request(steps=400, seed=51),
                                                 on_step=lambda i, step, total: first_step.set()).run())
            await first_step.wait()
            second_server.kill()
            with pytest.raises(ConnectionLost) as lost:
                await job
            assert doomed.state is ConnectionState.LOST
            with pytest.raises(ServerUnreachable) as unreachable:  # the next job on it: at once, one line
                await BatchRun([doomed], small_request(seed=52)).run()
            (after,) = await BatchRun([healthy], small_request(seed=53)).run()
            return str(lost.value), str(unreachable.value), after
        finally:
            await doomed.close()
            await healthy.close()

    lost, unreachable, after = run(kill_mid_job())
    assert lost == (f"lost the connection to the ComfyUI server at {second_server.url} "
                    "and could not reconnect within 0.7 s")
    assert unreachable.startswith(f"cannot reach the ComfyUI server at {second_server.url}: ")
    assert "\n" not in unreachable
    assert after.image.size == (64, 64)


def test_server_restarted_mid_job_says_the_job_is_lost(second_server):
    """The websocket comes back (same port), but the restarted server has no record of our prompt."""

    async def restart_mid_job():
        if second_server.process is None or second_server.process.poll() is not None:
            await asyncio.to_thread(second_server.start)
        connection = await ComfyConnection.open(second_server.url, backoff=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 16.0))
        try:
            first_step = asyncio.Event()
            job = asyncio.ensure_future(BatchRun([connection], small_request(steps=400, seed=71),
                                                 on_step=lambda i, step, total: first_step.set()).run())
            await first_step.wait()
            second_server.kill()
            await asyncio.to_thread(second_server.start)
            with pytest.raises(ConnectionLost) as lost:
                await job
            return str(lost.value), connection.state
        finally:
            await connection.close()

    message, state = run(restart_mid_job())
    assert message == f"the ComfyUI server at {second_server.url} lost the job (it restarted?); generate again"
    assert state is ConnectionState.CONNECTED  # and the next job can go there
