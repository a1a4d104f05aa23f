"""Generations on a real ComfyUI server: what the user gets back, and that it means what it says."""

from __future__ import annotations

import asyncio
import io
import json

import numpy as np
import pytest
from PIL import Image

from sdstudio.bridge.comfy.batch import BatchRun
from sdstudio.bridge.comfy.connection import ComfyConnection
from sdstudio.bridge.comfy.results import save_result
from sdstudio.bridge.comfy.workflow import generation_graph
from sdstudio.engine.paste_back import feathered_mask
from sdstudio.errors import Cancelled, InputError
from sdstudio.io.images import read_parameters
from tests.comfy.helpers import pattern_image, pixels, run, small_request


async def generate(url, request, **listeners):
    connection = await ComfyConnection.open(url)
    try:
        return await BatchRun([connection], request, **listeners).run()
    finally:
        await connection.close()


def test_txt2img_previews_progress_and_metadata(comfy_server, checkpoint_name, tmp_path):
    steps, previews = [], []
    request = small_request(sampler="DPM++ 2M Karras", seed=777)
    images = run(generate(comfy_server.url, request, on_step=lambda i, step, total: steps.append((i, step, total)),
                          on_preview=lambda i, preview: previews.append((i, preview))))
    assert [(i, step, total) for i, step, total in steps] == [(0, s, 4) for s in range(1, 5)]
    assert len(previews) == 4
    for _, preview in previews:
        with Image.open(io.BytesIO(preview.data)) as shown:
            assert shown.format == preview.format == "JPEG"
            assert shown.width > 0
    (result,) = images
    assert result.image.size == (64, 64) and result.request.seed == 777

    path, parameters = save_result(result.image, result.request, result.checkpoint, result.graph, tmp_path)
    assert path.name.startswith("00001-777")
    parsed = read_parameters(path)
    assert parsed is not None and parsed.model == checkpoint_name
    assert (parsed.seed, parsed.steps, parsed.sampler, parsed.size) == (777, 4, "DPM++ 2M Karras", (64, 64))
    assert parsed.negative_prompt == "blurry"
    with Image.open(path) as saved:
        graph = json.loads(saved.info["prompt"])
        assert np.array_equal(pixels(saved), pixels(result.image))
    sampler = next(node for node in graph.values() if node["class_type"] == "KSampler")["inputs"]
    assert (sampler["sampler_name"], sampler["scheduler"], sampler["seed"]) == ("dpmpp_2m", "karras", 777)


def hand_built_graph(checkpoint: str, seed: int) -> dict:
    """What a ComfyUI user would wire for Euler a, 4 steps, CFG 7. Other node ids than ours, so the
    server computes it afresh, except the loader's: reloading the model would only cost time."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red apple", "clip": ["1", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "size": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["size", 0],
            "seed": seed, "steps": 4, "cfg": 7.0, "sampler_name": "euler_ancestral", "scheduler": "normal",
            "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["1", 2]}},
        "show": {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}},
    }


def test_our_settings_mean_the_same_image_as_a_hand_built_graph(comfy_server, checkpoint_name):
    async def both():
        connection = await ComfyConnection.open(comfy_server.url)
        try:
            ours = await BatchRun([connection], small_request(sampler="Euler a", seed=4242)).run()
            steps = []
            (theirs,) = await connection.run_prompt(hand_built_graph(checkpoint_name, 4242),
                                                    on_progress=lambda step, total, node: steps.append(step))
            return ours[0].image, theirs, steps
        finally:
            await connection.close()

    ours, theirs, steps = run(both())
    assert steps == [1, 2, 3, 4]  # the hand-built graph really ran (no cache hit)
    assert np.array_equal(pixels(ours), pixels(theirs))


def test_same_seed_same_pixels_other_seed_other_pixels(comfy_server):
    async def three():
        connection = await ComfyConnection.open(comfy_server.url)
        try:
            # a seed in between, so that the third run is computed again, not taken from the server's cache
            return [(await BatchRun([connection], small_request(seed=seed)).run())[0].image for seed in (5, 6, 5)]
        finally:
            await connection.close()

    first, other, again = run(three())
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


def test_img2img_sends_its_input_and_strength(comfy_server):
    """With random weights the picture means nothing (and ComfyUI's VAEEncode samples the latent
    with unseeded noise, so img2img is not bit-reproducible there), so we check what a user relies
    on: the server gets our input at the request's size, the sampler gets the strength, and the
    result is not the text-to-image one of the same seed."""
    source = pattern_image((80, 72))  # sized to 64x64 as the engine sizes it
    (img2img,) = run(generate(comfy_server.url, small_request(init_image=source, strength=0.6, seed=9)))
    (txt2img,) = run(generate(comfy_server.url, small_request(seed=9)))
    loaded = next(node for node in img2img.graph.values() if node["class_type"] == "LoadImage")["inputs"]["image"]
    with Image.open(comfy_server.root / "input" / loaded) as uploaded:
        assert np.array_equal(pixels(uploaded), pixels(source.resize((64, 64), Image.Resampling.LANCZOS)))
    sampler = next(node for node in img2img.graph.values() if node["class_type"] == "KSampler")["inputs"]
    assert sampler["denoise"] == pytest.approx(0.6)
    assert np.abs(pixels(img2img.image) - pixels(txt2img.image)).mean() > 2.0


def test_inpaint_keeps_every_pixel_outside_the_mask(comfy_server):
    original = pattern_image()
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 40, 40))
    request = small_request(init_image=original, mask_image=mask, strength=1.0, mask_feather=4, seed=11)
    (result,) = run(generate(comfy_server.url, request))
    outside = np.asarray(feathered_mask(mask, 4)) == 0
    inside = np.asarray(mask) == 255
    assert outside.sum() > 2000
    assert np.array_equal(pixels(result.image)[outside], pixels(original)[outside])
    assert not np.array_equal(pixels(result.image)[inside], pixels(original)[inside])
    assert "SetLatentNoiseMask" in {node["class_type"] for node in result.graph.values()}


def test_inpaint_graph_for_an_inpainting_checkpoint_uses_inpaint_conditioning():
    from sdstudio.bridge.comfy.samplers import ComfySampler
    from sdstudio.bridge.comfy.workflow import Uploads

    request = small_request(init_image=pattern_image(), mask_image=Image.new("L", (64, 64), 255))
    graph = generation_graph(request, "sd15-inpainting.safetensors", ComfySampler("euler", "normal"),
                             Uploads("in.png", "mask.png"), inpaint_conditioning=True)
    kinds = [node["class_type"] for node in graph.values()]
    assert "InpaintModelConditioning" in kinds and "SetLatentNoiseMask" not in kinds
    sampler = next(node for node in graph.values() if node["class_type"] == "KSampler")["inputs"]
    conditioning = next(key for key, node in graph.items() if node["class_type"] == "InpaintModelConditioning")
    assert sampler["positive"] == [conditioning, 0] and sampler["latent_image"] == [conditioning, 2]


def test_cancel_mid_job_then_the_next_job_runs(comfy_server):
    async def cancel_then_generate():
        connection = await ComfyConnection.open(comfy_server.url)
        try:
            started = asyncio.Event()
            long_run = asyncio.ensure_future(BatchRun(
                [connection], small_request(steps=400, seed=21), on_step=lambda i, step, total: started.set()).run())
            await started.wait()
            long_run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await long_run
            steps = []
            after = await BatchRun([connection], small_request(seed=22),
                                   on_step=lambda i, step, total: steps.append(step)).run()
            history = await connection.client.get_json("/history")
            return after, steps, history
        finally:
            await connection.close()

    after, steps, history = run(cancel_then_generate())
    assert steps == [1, 2, 3, 4] and after[0].image.size == (64, 64)
    interrupted = [entry for entry in history.values()
                   if any(name == "execution_interrupted" for name, _ in entry["status"]["messages"])]
    assert interrupted, "the long job was interrupted on the server, not left running"


def test_cancel_through_the_connection_raises_cancelled(comfy_server):
    async def cancel_one():
        connection = await ComfyConnection.open(comfy_server.url)
        try:
            graph = BatchRun([connection], small_request(steps=400, seed=23))
            started = asyncio.Event()
            prompt = asyncio.ensure_future(connection.run_prompt(
                generation_graph(graph.request, graph.checkpoint, _euler(), _no_uploads()),
                on_progress=lambda step, total, node: started.set()))
            await started.wait()
            await connection.cancel(connection._running)
            with pytest.raises(Cancelled):
                await prompt
        finally:
            await connection.close()

    run(cancel_one())


def _euler():
    from sdstudio.bridge.comfy.samplers import ComfySampler

    return ComfySampler("euler", "normal")


def _no_uploads():
    from sdstudio.bridge.comfy.workflow import Uploads

    return Uploads()


def test_unknown_checkpoint_and_sampler_are_clear_errors(comfy_server, checkpoint_name):
    with pytest.raises(InputError, match=f"unknown checkpoint 'nope'.*choose one of: {checkpoint_name}"):
        run(generate(comfy_server.url, small_request(model="nope")))
    with pytest.raises(InputError, match="sampler 'PNDM' is not available on the ComfyUI server at .*Euler a"):
        run(generate(comfy_server.url, small_request(sampler="PNDM")))


def test_hires_fix_runs_both_passes_as_one_run_of_steps(comfy_server):
    from sdstudio.engine.requests import HiresFix, Upscaler

    steps = []
    request = small_request(seed=81, hires=HiresFix(scale=1.5, steps=2, denoise=0.5))
    (result,) = run(generate(comfy_server.url, request, on_step=lambda i, step, total: steps.append((step, total))))
    assert result.image.size == (96, 96)
    assert steps == [(step, 6) for step in range(1, 7)]
    kinds = [node["class_type"] for node in result.graph.values()]
    assert kinds.count("KSampler") == 2 and "LatentUpscale" in kinds

    lanczos = small_request(hires=HiresFix(scale=2.0, upscaler=Upscaler.LANCZOS)).validated()
    graph = generation_graph(lanczos, "m.safetensors", _euler(), _no_uploads())
    scale = next(node for node in graph.values() if node["class_type"] == "ImageScale")["inputs"]
    assert (scale["upscale_method"], scale["width"], scale["height"]) == ("lanczos", 128, 128)
