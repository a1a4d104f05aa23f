"""A1111 parameters written by us read back exactly; real A1111 and ComfyUI metadata read right."""

import json
from dataclasses import replace

import pytest
from PIL import Image

from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError
from sdstudio.io.metadata import format_parameters, parameters_to_text, parse_comfyui, parse_parameters

IMAGE = Image.new("RGB", (8, 8))
BASE = GenerationRequest("x")


@pytest.mark.parametrize(
    "request_",
    [
        GenerationRequest("a red apple, still life", "blurry, text", sampler="DPM++ 2M Karras", steps=30,
                          cfg_scale=6.5, seed=1234, width=512, height=768),
        GenerationRequest("line one\nline two: with colon", sampler="Euler", seed=7, width=64, height=64,
                          init_image=IMAGE, strength=0.45),
        GenerationRequest("fix the face", "ugly", seed=2**40, width=64, height=64, init_image=IMAGE, mask_image=IMAGE,
                          strength=0.9, mask_feather=4),
    ],
    ids=["txt2img", "img2img", "inpaint"],
)
def test_round_trip_restores_the_request(request_):
    text = format_parameters(request_, "tiny")
    restored = parse_parameters(text).apply_to(BASE)
    for name in ("prompt", "negative_prompt", "sampler", "steps", "cfg_scale", "seed", "width", "height"):
        assert getattr(restored, name) == getattr(request_, name), name
    if request_.init_image is not None:
        assert restored.strength == request_.strength
    if request_.mask_image is not None:
        assert restored.mask_feather == request_.mask_feather


def test_format_is_what_a1111_writes():
    text = format_parameters(GenerationRequest("a cat", "dog", steps=20, cfg_scale=7.0, seed=5, width=512,
                                               height=512), "my-model")
    lines = text.splitlines()
    assert lines[0] == "a cat" and lines[1] == "Negative prompt: dog"
    assert lines[2].startswith("Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Model: my-model")
    assert "Negative prompt" not in format_parameters(GenerationRequest("a cat"), "m")


A1111_NEW = """masterpiece, a castle on a hill,
golden hour, (detailed:1.2)
Negative prompt: lowres, bad anatomy,
watermark
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592, Size: 832x1216, \
Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.35, Hires upscale: 1.5, \
Hires upscaler: R-ESRGAN 4x+, Lora hashes: "detail: 1a2b3c, style: 4d5e6f", Version: v1.10.1"""


def test_reads_real_a1111_text():
    parsed = parse_parameters(A1111_NEW)
    assert parsed.prompt == "masterpiece, a castle on a hill,\ngolden hour, (detailed:1.2)"
    assert parsed.negative_prompt == "lowres, bad anatomy,\nwatermark"
    assert parsed.sampler == "DPM++ 2M Karras"
    assert (parsed.steps, parsed.cfg_scale, parsed.seed, parsed.size) == (28, 6.5, 3141592, (832, 1216))
    assert parsed.settings["Lora hashes"] == "detail: 1a2b3c, style: 4d5e6f"
    assert parsed.settings["Hires upscaler"] == "R-ESRGAN 4x+"
    assert parsed.model == "sd_xl_base_1.0" and parsed.strength == 0.35


def test_a1111s_hires_prompts_are_read_and_written_only_when_they_differ():
    from sdstudio.engine.requests import HiresFix

    text = ("a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, "
            'Denoising strength: 0.4, Hires prompt: "a cat, sharp: 8k", Hires upscale: 2, Hires upscaler: Latent, '
            "Hires negative prompt: blurry")
    hires = parse_parameters(text).hires
    assert (hires.prompt, hires.negative_prompt) == ("a cat, sharp: 8k", "")  # the same as the job's: ""
    request = GenerationRequest("a cat", negative_prompt="blurry", hires=HiresFix(prompt="a cat, sharp: 8k"))
    written = format_parameters(request, "m")
    assert 'Hires prompt: "a cat, sharp: 8k"' in written and "Hires negative prompt" not in written
    assert parse_parameters(written).hires.prompt == "a cat, sharp: 8k"
    assert "Hires prompt" not in format_parameters(replace(request, hires=HiresFix(prompt="a cat")), "m")


def test_old_a1111_sampler_spelling_and_unknown_samplers():
    old = parse_parameters("cat\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x512")
    assert old.sampler == "DPM++ 2M Karras" and old.negative_prompt == ""
    odd = parse_parameters("cat\nSteps: 20, Sampler: Restart, CFG scale: 7, Seed: 1, Size: 512x512")
    assert odd.apply_to(GenerationRequest("x", sampler="DDIM")).sampler == "DDIM"


def test_prompt_only_text_and_empty_text():
    assert parse_parameters("just a prompt").prompt == "just a prompt"
    with pytest.raises(InputError):
        parse_parameters("  \n")


COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0,
          "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0, "model": ["4", 0],
          "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery, purple galaxy bottle",
          "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
}
COMFY_WORKFLOW = {
    "nodes": [
        {"id": 3, "type": "KSampler", "inputs": [{"name": "positive", "link": 4}, {"name": "negative", "link": 6}],
         "widgets_values": [42, "randomize", 25, 7.5, "euler_ancestral", "normal", 1]},
        {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["a fox in the snow"]},
        {"id": 7, "type": "CLIPTextEncode", "widgets_values": ["blurry"]},
        {"id": 5, "type": "EmptyLatentImage", "widgets_values": [768, 512, 1]},
    ],
    "links": [[4, 6, 0, 3, 1, "CONDITIONING"], [6, 7, 0, 3, 2, "CONDITIONING"]],
}


def test_comfyui_prompt_graph():
    parsed = parse_comfyui(json.dumps(COMFY_PROMPT), None)
    assert parsed.prompt == "beautiful scenery, purple galaxy bottle" and parsed.negative_prompt == "text, watermark"
    assert parsed.sampler == "DPM++ 2M Karras" and parsed.steps == 20 and parsed.seed == 156680208700286
    assert parsed.size == (512, 640) and parsed.model == "v1-5-pruned-emaonly"
    assert parameters_to_text(parsed).startswith("beautiful scenery, purple galaxy bottle\nNegative prompt: text")


def test_comfyui_workflow_only():
    parsed = parse_comfyui(None, json.dumps(COMFY_WORKFLOW))
    assert (parsed.prompt, parsed.negative_prompt) == ("a fox in the snow", "blurry")
    assert (parsed.seed, parsed.steps, parsed.cfg_scale, parsed.sampler) == (42, 25, 7.5, "Euler a")
    assert parsed.size == (768, 512)
    assert parse_comfyui("not json", "{}") is None
