"""75-token chunks as A1111 makes them: BOS/EOS per chunk, BREAK, the comma wrap, embeddings kept whole."""

from sdstudio.engine.prompt_chunks import CHUNK_LENGTH, EmbeddingIndex, EmbeddingWord, chunk_prompt

BOS, EOS, COMMA = 1, 2, 9


def words(texts: list[str]) -> list[list[int]]:
    """A stand-in tokenizer: each space-separated word is one token, "," is the comma token."""
    return [[COMMA if w == "," else 100 + len(w) for w in text.split()] for text in texts]


def test_short_prompt_is_one_padded_chunk():
    chunks, count = chunk_prompt([("a bb", 1.0)], words, BOS, EOS, COMMA)
    assert count == 2 and len(chunks) == 1
    assert chunks[0].tokens == [BOS, 101, 102] + [EOS] * 74
    assert len(chunks[0].multipliers) == CHUNK_LENGTH + 2


def test_long_prompt_continues_in_a_second_chunk():
    chunks, count = chunk_prompt([(" ".join(["a"] * 80), 1.3)], words, BOS, EOS, COMMA)
    assert count == 80 and len(chunks) == 2
    assert chunks[0].tokens == [BOS] + [101] * 75 + [EOS]
    assert chunks[1].tokens[:6] == [BOS] + [101] * 5 and chunks[1].tokens[6:] == [EOS] * 71
    assert chunks[1].multipliers[1:6] == [1.3] * 5 and chunks[1].multipliers[0] == 1.0


def test_break_starts_a_new_chunk():
    chunks, _ = chunk_prompt([("a", 1.0), ("BREAK", -1.0), ("bb", 1.0)], words, BOS, EOS, COMMA)
    assert [c.tokens[1] for c in chunks] == [101, 102]


def test_words_after_a_near_comma_move_to_the_next_chunk():
    text = " ".join(["a"] * 70 + [","] + ["bb"] * 10)
    chunks, _ = chunk_prompt([(text, 1.0)], words, BOS, EOS, COMMA)
    assert chunks[0].tokens[1:72] == [101] * 70 + [COMMA] and chunks[0].tokens[72] == EOS
    assert chunks[1].tokens[1:11] == [102] * 10


def test_embedding_vectors_are_not_split_across_chunks():
    word = EmbeddingWord("emb", (103,), 4)
    chunks, _ = chunk_prompt([(" ".join(["a"] * 73) + " emb", 1.0)], words, BOS, EOS, None, EmbeddingIndex([word]))
    assert chunks[0].fixes == [] and chunks[1].fixes == [(1, word)]
    assert chunks[1].tokens[1:5] == [-1] * 4
