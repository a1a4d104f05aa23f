"""A1111 prompts rewritten for a stock ComfyUI server: weights, escapes, embeddings, BREAK, LoRAs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdstudio.bridge.comfy.prompt_translation import PassTiming, find_lora, timed_texts, translate_prompt
from sdstudio.errors import InputError


def chunks(prompt: str, embeddings: tuple[str, ...] = ()) -> tuple[str, ...]:
    return translate_prompt(prompt, embeddings).chunks


def test_a_plain_prompt_is_sent_as_written() -> None:
    assert chunks("a red apple, studio light") == ("a red apple, studio light",)


def test_weights_are_written_as_comfyui_reads_them() -> None:
    assert chunks("a (red:1.3) apple") == ("a (red:1.3) apple",)
    assert chunks("a (red) apple") == ("a (red:1.1) apple",)
    assert chunks("a [red] apple") == ("a (red:0.9091) apple",)  # ComfyUI would keep [ ] as text
    assert chunks("((red))") == ("(red:1.21)",)
    assert chunks("(a (b:1.5))") == ("(a :1.1)(b:1.65)",)


def test_literal_brackets_stay_literal() -> None:
    assert chunks(r"a \(b\) c") == (r"a \(b\) c",)
    assert chunks(r"\[x\]") == ("[x]",)
    assert chunks("ends with a backslash\\") == ("ends with a backslash",)  # A1111 drops a lone one
    assert chunks("(slash\\\\:1.2)") == ("(slash\\ :1.2)",)  # the backslash must not escape the ")"


def test_break_makes_chunks() -> None:
    assert chunks("a cat BREAK a dog BREAK hat") == ("a cat", "a dog", "hat")
    # inside a group A1111 multiplies BREAK's -1 marker and encodes the word, weighted: so do we
    assert chunks("a (cat BREAK:1.2)") == ("a (cat:1.2)(BREAK:-1.2)",)


def test_embedding_words_get_comfyuis_prefix() -> None:
    names = ("EasyNegative", "sub/bad_hands")
    assert chunks("easynegative, bad_hands", names) == (" embedding:EasyNegative ,  embedding:sub/bad_hands ",)
    assert chunks("(easynegative:1.2)", names) == ("( embedding:EasyNegative :1.2)",)
    # not inside other words, and not twice when already in ComfyUI's syntax
    assert chunks("myeasynegative2 embedding:EasyNegative", names) == ("myeasynegative2 embedding:EasyNegative",)


def test_lora_tags_come_out_with_their_weights() -> None:
    translated = translate_prompt("<lora:detail:0.6> a cat <lora:style:0.8:0.5>")
    assert translated.chunks == (" a cat ",)
    assert [(tag.name, tag.te_weight, tag.unet_weight) for tag in translated.loras] == [
        ("detail", 0.6, 0.6), ("style", 0.8, 0.5)]


def test_lora_names_are_found_by_file_name() -> None:
    loras = ("detail.safetensors", "styles\\Ink.safetensors", "ink.pt")
    assert find_lora("detail", loras, "http://s") == "detail.safetensors"
    assert find_lora("Ink", loras, "http://s") == "styles\\Ink.safetensors"
    assert find_lora("ink", loras, "http://s") == "ink.pt"
    assert find_lora("INK", loras, "http://s") == "styles\\Ink.safetensors"
    with pytest.raises(InputError, match="LoRA 'nope' is not on the ComfyUI server at http://s .it has: detail, Ink"):
        find_lora("nope", loras, "http://s")
    with pytest.raises(InputError, match="models/loras folder is empty"):
        find_lora("nope", (), "http://s")


@given(st.text(max_size=80), st.lists(st.text(min_size=1, max_size=8), max_size=3))
def test_translation_never_raises_on_text(prompt: str, embeddings: list[str]) -> None:
    try:
        translated = translate_prompt(prompt, embeddings)
    except InputError:  # a malformed <lora:...> tag is one line for the user
        return
    assert translated.chunks and all(isinstance(chunk, str) for chunk in translated.chunks)


def timed(prompt: str, **timing) -> list[tuple[float, float, str]]:
    return timed_texts(translate_prompt(prompt).text, PassTiming(**timing))


def test_a_prompt_without_editing_has_the_whole_range() -> None:
    assert timed("a (red:1.2) apple", steps=20) == [(0.0, 1.0, "a (red:1.2) apple")]


def test_prompt_editing_switches_between_a1111s_steps() -> None:
    # A1111: calls 0, 1, 2 use "cat", call 3 "dog"; ComfyUI's call i of 4 sits at i/4 of the range
    assert timed("a [cat:dog:0.5]", steps=4) == [(0.0, 0.625, "a cat"), (0.625, 1.0, "a dog")]
    assert timed("a [cat:dog:2]", steps=10) == [(0.0, 0.25, "a cat"), (0.25, 1.0, "a dog")]
    assert timed("[cat::0.5] hat", steps=4) == [(0.0, 0.625, "cat hat"), (0.625, 1.0, " hat")]


def test_alternation_gives_each_call_its_word() -> None:
    ranges = timed("a [cat|dog] hat", steps=4)
    assert [text for _, _, text in ranges] == ["a cat hat", "a dog hat", "a cat hat", "a dog hat"]
    for call, word in enumerate(["cat", "cat", "dog", "cat"]):  # A1111's words per 0-based call
        (text,) = [text for start, end, text in ranges if start <= call / 4 < end]
        assert word in text


def test_img2img_and_hires_passes_place_the_switch_in_their_part_of_the_schedule() -> None:
    # img2img at 0.5 on 4 steps: A1111 runs calls 0 and 1, both before the switch: "cat" throughout
    assert timed("[cat:dog:0.5]", steps=4, denoise=0.5, img2img=True) == [(0.0, 1.0, "cat")]
    assert timed("[cat:dog:1]", steps=4, denoise=0.5, img2img=True) == [(0.0, 0.875, "cat"), (0.875, 1.0, "dog")]
    # hires fix: a fraction past 1 falls in the second pass (A1111's timeline continues)
    first = timed("[cat:dog:1.5]", steps=4)
    second = timed("[cat:dog:1.5]", steps=4, denoise=0.5, first_pass_steps=4)
    assert [text for _, _, text in first] == ["cat"]
    assert [text for _, _, text in second] == ["cat", "dog"] and 0.5 < second[0][1] < 1.0


def test_every_stretch_is_translated_like_a_prompt() -> None:
    prompt = translate_prompt("[(cat:1.2) BREAK hat:[dog]:0.5]", ("EasyNegative",))
    (cat, dog) = prompt.timed(PassTiming(steps=4))
    assert cat.chunks == ("(cat:1.2)", "hat") and dog.chunks == ("(dog:0.9091)",)


def test_a1111s_hires_prompt_conditions_the_second_ksampler_with_its_own_loras() -> None:
    from sdstudio.bridge.comfy.samplers import ComfySampler
    from sdstudio.bridge.comfy.server_info import ServerInfo
    from sdstudio.bridge.comfy.workflow import Uploads, generation_graph, server_files
    from sdstudio.engine.requests import GenerationRequest, HiresFix

    info = ServerInfo(("m.safetensors",), ("euler",), ("normal",), frozenset(), loras=("ink.safetensors",
                                                                                          "paper.safetensors"))
    request = GenerationRequest("a cat <lora:ink:1>", negative_prompt="blurry", steps=4, width=64, height=64,
                                hires=HiresFix(scale=1.5, prompt="a cat, sharp <lora:paper:0.5>"))
    graph = generation_graph(request, "m.safetensors", ComfySampler("euler", "normal"), Uploads(), False,
                             server_files(request, info, "http://s"))

    def source(link, wanted):  # follow a link back to the first node of a class
        node = graph[link[0]]
        while node["class_type"] != wanted:
            link = next(value for value in node["inputs"].values() if isinstance(value, list))
            node = graph[link[0]]
        return node["inputs"]

    first, second = (node["inputs"] for node in graph.values() if node["class_type"] == "KSampler")
    assert source(first["positive"], "CLIPTextEncode")["text"] == "a cat "
    assert source(second["positive"], "CLIPTextEncode")["text"] == "a cat, sharp "
    assert source(second["negative"], "CLIPTextEncode")["text"] == "blurry"  # empty: the job's own
    assert source(first["model"], "LoraLoader")["lora_name"] == "ink.safetensors"
    assert source(second["model"], "LoraLoader")["lora_name"] == "paper.safetensors"
    assert source(second["model"], "LoraLoader")["strength_model"] == 0.5
