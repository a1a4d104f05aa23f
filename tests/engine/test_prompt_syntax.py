"""A1111's prompt syntax: the weights, escapes, BREAK and LoRA tags its users write, read as A1111 reads them."""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdstudio.engine.prompt_syntax import (
    LoraTag,
    SpanKind,
    parse_prompt,
    parse_prompt_attention,
    prompt_spans,
)
from sdstudio.errors import InputError


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # A1111's own doctests (modules/prompt_parser.py)
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        (r"\(literal\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.5730000000000004),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641000000000006),
                (".", 1.1),
            ],
        ),
        ("((word))", [("word", 1.2100000000000002)]),
        ("[word]", [("word", 1 / 1.1)]),
        ("(word:1.5)", [("word", 1.5)]),
        ("(red:1.0)", [("red", 1.0)]),
        ("a ) b ]", [("a ) b ]", 1.0)]),  # closers with nothing open are text
        ("a :1.5) b", [("a :1.5) b", 1.0)]),
        (r"\\ back", [("\\ back", 1.0)]),
        ("", [("", 1.0)]),
    ],
)
def test_attention_weights_match_a1111(prompt, expected):
    assert parse_prompt_attention(prompt) == expected


def test_break_splits_and_is_only_the_upper_case_word():
    assert parse_prompt_attention("a cat BREAK a dog") == [("a cat", 1.0), ("BREAK", -1.0), ("a dog", 1.0)]
    assert parse_prompt_attention("a break, BREAKFAST") == [("a break, BREAKFAST", 1.0)]
    # A1111 multiplies the BREAK marker inside brackets too, so there it is the word, weighted
    assert parse_prompt_attention("(a BREAK b)") == [("a", 1.1), ("BREAK", -1.1), ("b", 1.1)]


def test_invalid_weight_stays_text_instead_of_failing():
    assert parse_prompt_attention("(a:1.2.3)") == [("a:1.2.3)", 1.1)]


def test_lora_tags_are_cut_out_with_a1111_weights():
    prompt = "a cat <lora:ink:0.8>, <lora:Paper Cut:1:0.25> <lora:x> <lyco:y:te=0.5> <hypernet:h:1>"
    parsed = parse_prompt(prompt)
    assert parsed.text == "a cat ,    "
    assert [(t.name, t.te_weight, t.unet_weight) for t in parsed.loras] == [
        ("ink", 0.8, 0.8),
        ("Paper Cut", 1.0, 0.25),
        ("x", 1.0, 1.0),
        ("y", 0.5, 0.5),
    ]
    assert [prompt[t.start : t.end] for t in parsed.loras[:2]] == ["<lora:ink:0.8>", "<lora:Paper Cut:1:0.25>"]
    assert parse_prompt("<lora:a:unet=0.3>").loras[0] == LoraTag("a", 1.0, 0.3, 0, 17)
    assert parsed.loras[1].text == "<lora:Paper Cut:1:0.25>"
    assert not parse_prompt("plain words").has_syntax


def test_bad_lora_weight_is_one_clear_line():
    with pytest.raises(InputError, match="not a number"):
        parse_prompt("<lora:x:strong>")


def test_spans_cover_the_prompt_for_highlighting():
    prompt = "(a <lora:x:0.5> b) BREAK [c]"
    spans = prompt_spans(prompt)
    assert [prompt[s.start : s.end] for s in spans] == ["(", "a ", "<lora:x:0.5>", " b", ")", " BREAK ", "[", "c", "]"]
    kinds = [s.kind for s in spans]
    assert kinds[2] is SpanKind.LORA and kinds[5] is SpanKind.BREAK and kinds[0] is SpanKind.SYNTAX
    weights = {prompt[s.start : s.end]: s.weight for s in spans if s.kind is SpanKind.TEXT}
    assert weights == {"a ": 1.1, " b": 1.1, "c": 1 / 1.1}  # the tag does not break the group


def test_spans_mark_prompt_editing_and_alternation_syntax():
    prompt = "a (x [cat:dog: 0.5 ]) [b|c] <lora:k:1>[::3]"
    spans = prompt_spans(prompt)
    syntax = [prompt[s.start : s.end] for s in spans if s.kind is SpanKind.SYNTAX]
    assert syntax == ["(", "[", ":", ":", " 0.5 ", "]", ")", "[", "|", "]", "[", ":", ":", "3", "]"]
    weights = {prompt[s.start : s.end]: s.weight for s in spans if s.kind is SpanKind.TEXT}
    assert weights == {"a ": 1.0, "x ": 1.1, "cat": 1.1, "dog": 1.1, " ": 1.0, "b": 1.0, "c": 1.0}
    assert "".join(prompt[s.start : s.end] for s in spans) == prompt  # nothing lost, nothing twice
    # where A1111's grammar does not match (a bar outside an alternation), nothing is an edit
    kept = "a | [cat:dog:2]"
    assert [kept[s.start : s.end] for s in prompt_spans(kept) if s.kind is SpanKind.SYNTAX] == ["[", "]"]


@settings(derandomize=True, max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("[]():|\\ ab.5\n<>lora")) | st.characters(), max_size=40))
def test_spans_never_raise_and_cover_the_prompt_once(prompt):
    spans = prompt_spans(prompt)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert "".join(prompt[s.start : s.end] for s in spans) == prompt


def test_parser_imports_without_torch():
    code = (
        "import sys, sdstudio.engine.prompt_syntax, sdstudio.engine.prompt_chunks, sdstudio.engine.prompt_schedule;"
        " print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
