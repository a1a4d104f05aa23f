"""A1111 prompts rewritten for a stock ComfyUI server: weights, escapes, embeddings, BREAK, LoRAs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdstudio.bridge.comfy.prompt_translation import find_lora, translate_prompt
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
