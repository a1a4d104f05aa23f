"""LoRAs, embeddings, a VAE, BREAK and prompt editing on a real ComfyUI server, written as A1111
users write them."""

from __future__ import annotations

import numpy as np
import pytest

from sdstudio.bridge.comfy.batch import BatchRun
from sdstudio.bridge.comfy.connection import ComfyConnection
from sdstudio.errors import InputError
from tests.comfy.helpers import pixels, run, small_request
from tests.comfy.networks import EMBEDDING_NAMES, LORA_NAME, VAE_NAME


async def generate_all(url: str, requests: list) -> list:
    """One image per request, over one connection: (pixels, graph) each."""
    connection = await ComfyConnection.open(url)
    try:
        out = []
        for request in requests:
            (image,) = await BatchRun([connection], request).run()
            out.append((pixels(image.image), image.graph))
        return out
    finally:
        await connection.close()


def nodes(graph: dict, class_type: str) -> list[dict]:
    return [node["inputs"] for node in graph.values() if node["class_type"] == class_type]


def test_a_lora_tag_loads_the_servers_lora_with_its_weights(comfy_server):
    plain, lora, off = run(generate_all(comfy_server.url, [
        small_request(prompt="a red apple"),
        small_request(prompt=f"a red apple <lora:{LORA_NAME}:0.9:0.7>"),
        small_request(prompt=f"a red apple <lora:{LORA_NAME}:0>"),
    ]))
    (loader,) = nodes(lora[1], "LoraLoader")
    assert loader["lora_name"] == f"{LORA_NAME}.safetensors"
    assert (loader["strength_clip"], loader["strength_model"]) == (0.9, 0.7)
    assert [node["text"] for node in nodes(lora[1], "CLIPTextEncode")] == ["a red apple ", "blurry"]
    assert np.abs(lora[0] - plain[0]).max() > 10  # the LoRA changed the image
    assert np.array_equal(off[0], plain[0])  # weight 0 is no LoRA at all


def test_embedding_words_are_the_servers_embeddings(comfy_server):
    first, second, word = run(generate_all(comfy_server.url, [
        small_request(prompt=f"a {EMBEDDING_NAMES[0]} apple"),
        small_request(prompt=f"a {EMBEDDING_NAMES[1]} apple"),
        small_request(prompt="a plain apple"),
    ]))
    assert nodes(first[1], "CLIPTextEncode")[0]["text"] == f"a  embedding:{EMBEDDING_NAMES[0]}  apple"
    # the two files hold the same vectors: read as embeddings they are one prompt, as words two
    assert np.array_equal(first[0], second[0])
    assert not np.array_equal(first[0], word[0])


def test_a_vae_of_the_servers_replaces_the_checkpoints(comfy_server):
    requests = [small_request(), small_request(vae=VAE_NAME.removesuffix(".safetensors"))]
    own, other = run(generate_all(comfy_server.url, requests))
    assert nodes(other[1], "VAELoader") == [{"vae_name": VAE_NAME}]
    assert np.abs(own[0] - other[0]).max() > 10


def test_break_is_chunks_joined_on_the_server(comfy_server):
    ((image, graph),) = run(generate_all(comfy_server.url, [small_request(prompt="a red apple BREAK on a table")]))
    assert [node["text"] for node in nodes(graph, "CLIPTextEncode")][:2] == ["a red apple", "on a table"]
    assert len(nodes(graph, "ConditioningConcat")) == 1
    assert image.shape == (64, 64, 3)


def test_prompt_editing_runs_as_timestep_ranges_on_the_server(comfy_server):
    edited, apple, car = run(generate_all(comfy_server.url, [
        small_request(prompt="[a red apple:a blue car:2]"),
        small_request(prompt="a red apple"),
        small_request(prompt="a blue car"),
    ]))
    ranges = nodes(edited[1], "ConditioningSetTimestepRange")
    assert [(node["start"], node["end"]) for node in ranges] == [(0.0, 0.625), (0.625, 1.0)]
    assert len(nodes(edited[1], "ConditioningCombine")) == 1
    # the first steps follow one prompt, the last the other: the image is neither
    assert not np.array_equal(edited[0], apple[0]) and not np.array_equal(edited[0], car[0])


@pytest.mark.parametrize(("changes", "message"), [
    (dict(prompt="a cat <lora:no-such-lora:1>"), f"LoRA 'no-such-lora' is not on the ComfyUI server .*{LORA_NAME}"),
    (dict(vae="no-such-vae"), f"VAE 'no-such-vae' is not on the ComfyUI server at .*{VAE_NAME}"),
    (dict(prompt=f"<lora:{LORA_NAME}:1> <lora:{LORA_NAME}:0.5> a cat"), "the same LoRA is named twice"),
])
def test_what_the_server_lacks_is_one_line_before_anything_runs(comfy_server, changes, message):
    async def attempt() -> None:
        connection = await ComfyConnection.open(comfy_server.url)
        try:
            with pytest.raises(InputError, match=message) as refused:
                BatchRun([connection], small_request(**changes))
            assert "\n" not in str(refused.value)
        finally:
            await connection.close()

    run(attempt())
