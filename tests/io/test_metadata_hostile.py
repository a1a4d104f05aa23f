"""Reading metadata never raises: what cannot be read is reported unreadable, the rest is shown.

Hypothesis drives the A1111 text parser and the ComfyUI graph reader with arbitrary strings and
JSON; the named cases are the ones users' (or attackers') files actually contain.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdstudio.engine.requests import GenerationRequest
from sdstudio.errors import InputError
from sdstudio.io.metadata import ParsedParameters, parameters_to_text, parse_comfyui, parse_parameters

# derandomize and no example database: every machine (and CI) runs the very same examples
FUZZ = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
FUZZ_GRAPHS = settings(FUZZ, max_examples=80)
BASE = GenerationRequest("x")
A1111_KEYS = ["Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "Denoising strength", "Mask blur",
              "Schedule type", "Negative prompt", "Lora hashes", "Clip skip", "VAE", "Hires upscale"]


def read_all(parsed: ParsedParameters) -> None:
    """Everything the app and CLI read from parsed parameters: none of it may raise."""
    for name in ("steps", "cfg_scale", "seed", "strength", "model", "size", "width", "height", "sampler",
                 "unreadable"):
        getattr(parsed, name)
    parsed.apply_to(BASE).validated()  # restored settings always make a valid request
    parameters_to_text(parsed)


def parse_or_none(text: str) -> ParsedParameters | None:
    try:
        return parse_parameters(text)
    except InputError:
        return None


values = st.one_of(st.text(max_size=30), st.integers().map(str), st.floats().map(repr),
                   st.sampled_from(["inf", "-inf", "nan", "1e308", "1e999", "-1", "9" * 50, "12x", "8x8", "0x0",
                                    '"quoted, value"', '"unterminated', "\\", "\x00", "\ufffd"]))
settings_lines = st.lists(st.tuples(st.sampled_from(A1111_KEYS) | st.text(max_size=12), values), max_size=12).map(
    lambda pairs: ", ".join(f"{key}: {value}" for key, value in pairs))


@FUZZ
@given(st.text(max_size=300))
def test_a1111_parser_never_raises_on_any_string(text):
    parsed = parse_or_none(text)
    if parsed is not None:
        read_all(parsed)


@FUZZ
@given(st.text(max_size=80), st.text(max_size=40), settings_lines)
def test_a1111_parser_never_raises_on_settings_shaped_text(prompt, negative, line):
    parsed = parse_or_none(f"{prompt}\nNegative prompt: {negative}\n{line}")
    if parsed is not None:
        read_all(parsed)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=10,
)
node_inputs = st.dictionaries(
    st.sampled_from(["seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", "positive",
                     "negative", "text", "text_g", "conditioning", "width", "height", "ckpt_name"]),
    json_values | st.tuples(st.sampled_from(["1", "2", "3"]), st.integers(0, 2)).map(list), max_size=8)
graphs = st.dictionaries(
    st.sampled_from(["1", "2", "3", "x"]),
    st.fixed_dictionaries({"class_type": st.sampled_from(["KSampler", "KSamplerAdvanced", "CLIPTextEncode",
                                                          "EmptyLatentImage", "CheckpointLoaderSimple", "Other"]),
                           "inputs": node_inputs | json_values}) | json_values,
    max_size=4)
workflows = st.fixed_dictionaries({
    "nodes": st.lists(st.fixed_dictionaries({"id": json_values, "type": st.sampled_from(
        ["KSampler", "KSamplerAdvanced", "CLIPTextEncode", "EmptyLatentImage", "CheckpointLoader"]),
        "inputs": json_values, "widgets_values": json_values}) | json_values, max_size=4),
    "links": json_values,
})


@FUZZ
@given(st.text(max_size=200), st.text(max_size=200))
def test_comfyui_reader_never_raises_on_any_string(prompt_json, workflow_json):
    parsed = parse_comfyui(prompt_json, workflow_json)
    if parsed is not None:
        read_all(parsed)


@FUZZ_GRAPHS
@given(graphs, workflows)
def test_comfyui_reader_never_raises_on_graphs_of_any_shape(graph, workflow):
    for prompt_json, workflow_json in ((json.dumps(graph), None), (None, json.dumps(workflow))):
        parsed = parse_comfyui(prompt_json, workflow_json)
        if parsed is not None:
            read_all(parsed)


KSAMPLER = {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                                                 "scheduler": "normal", "denoise": 1.0, "positive": ["2", 0]}}
TEXT_NODE = {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox"}}


@pytest.mark.parametrize(("field", "value"), [("denoise", "abc"), ("steps", "many"), ("cfg", [1, 2]),
                                              ("seed", 2**64), ("seed", -3), ("steps", float("inf")),
                                              ("denoise", None), ("cfg", {"a": 1})])
def test_comfyui_fields_of_the_wrong_type_are_unreadable_and_the_rest_shown(field, value):
    sampler = {**KSAMPLER, "inputs": {**KSAMPLER["inputs"], field: value}}
    parsed = parse_comfyui(json.dumps({"1": sampler, "2": TEXT_NODE}), None)
    assert parsed is not None and parsed.prompt == "a fox"
    read_all(parsed)


def test_100000_deep_comfyui_json_is_unreadable_not_a_crash():
    deep = "[" * 100_000 + "]" * 100_000
    assert parse_comfyui(deep, deep) is None
    nested = '{"1": {"class_type": "KSampler", "inputs": {"positive": ' + deep + "}}}"
    assert parse_comfyui(nested, None) is None


@pytest.mark.parametrize("setting", ["Steps: inf", "Steps: 1e999", "Steps: nan", "Steps: -inf", "Seed: inf",
                                     "CFG scale: nan", "Size: 99999999999x5", "Steps: 1e308", "Seed: -1",
                                     "Size: " + "9" * 5000 + "x8", "Mask blur: 1e300", "Denoising strength: 7"])
def test_a1111_numbers_out_of_range_are_unreadable_and_the_rest_shown(setting):
    parsed = parse_parameters(f"a cat\nSampler: Euler, CFG scale: 6, Model: m, {setting}")
    read_all(parsed)
    restored = parsed.apply_to(BASE)
    assert restored.prompt == "a cat" and restored.sampler == "Euler"
    assert setting.split(":")[0] in parsed.unreadable


def test_big_seeds_are_read_exactly():
    parsed = parse_parameters("x\nSteps: 20, Seed: 9223372036854775806, Size: 8x8")
    assert parsed.seed == 9223372036854775806 and parsed.apply_to(BASE).seed == 9223372036854775806
    assert parsed.unreadable == ()


@pytest.mark.parametrize("line", ["a " * 40_000, "a" * 40_000, " " * 40_000, "k: " * 20_000, 'k: "' * 20_000,
                                  "a,b:" * 20_000])
def test_long_hostile_settings_lines_are_read_in_linear_time(line):
    started = time.perf_counter()
    parse_parameters(f"prompt\n{line}")
    assert time.perf_counter() - started < 2.0  # the old pattern took 100 s on the first of these


def test_json_escaped_lone_surrogates_become_replacement_chars():
    parsed = parse_parameters('x\nSteps: 5, Sampler: Euler, Model: "\\ud800bad", Seed: 1')
    assert parsed.model == "\ufffdbad"
    graph = {"1": KSAMPLER, "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "\ud800 fox"}}}
    assert parse_comfyui(json.dumps(graph), None).prompt == "\ufffd fox"
