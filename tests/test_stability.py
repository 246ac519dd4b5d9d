"""The token-stability analysis: hand-computed distances and reuse on Bytes, the word list and
the draw (`eqinfo analyze stability` end to end: tests/test_cli.py)."""

from __future__ import annotations

import pytest

from compressor.analysis import stability as st
from compressor.tokenizers import parse_spec


def test_bytes_distances_equal_a_hand_count():
    # Bytes ids are the text's bytes and the sentence is shared, so each pair's distance is the
    # two words' edit distance: cat-cart 1 (insert r), cat-dog 3, cart-dog 4 (3 changes, 1 deletion).
    result = st.stability(parse_spec("bytes"), ["cat", "cart", "dog"], [b"ab", b"bc", b"b"])
    assert result.pairs == 3
    assert result.histogram == {1: 1, 3: 1, 4: 1}
    assert result.mean_distance == pytest.approx(8 / 3)
    assert result.median_distance == 3
    assert result.within_2 == pytest.approx(1 / 3)
    assert result.mean_ids == pytest.approx(len(st.SENTENCE) + 1 + 10 / 3)
    # ids a, b, c: only b occurs in more than one document
    assert (result.distinct_ids, result.reused_share) == (3, pytest.approx(1 / 3))


def test_pair_distances_are_levenshtein_over_ids():
    assert st.pair_distances([[1, 2, 3], [1, 3], [4, 5, 6, 7]]).tolist() == [1, 4, 4]
    assert st.pair_distances([[300, 70000], [70000]]).tolist() == [1]  # 16-bit and wider ids


def test_frequent_words_follow_the_text_alone():
    docs = [b"The cat and the dog.", b"A cat, the end; THE ox"]
    assert st.frequent_words(docs, 3) == ["the", "cat", "a"]  # ties alphabetical, case folded
    assert st.frequent_words(docs, 3) == st.frequent_words(list(reversed(docs)), 3)


def test_draw_is_fixed_and_distinct():
    words = [f"w{i}" for i in range(50)]
    first = st.draw_words(words, 10)
    assert first == st.draw_words(words, 10) and len(set(first)) == 10
    with pytest.raises(ValueError, match="has 3 distinct words; 5 are drawn"):
        st.draw_words(["a", "b", "c", "a"], 5)


def test_reuse_documents_are_cut_at_a_character_boundary():
    docs = [b"short", "é".encode() * 600, b"x" * 2000]
    cut = st.reuse_documents(docs, n=2, size=1023)
    assert cut == ["é".encode() * 511, b"x" * 1023]  # 1023 bytes would split the 512th é
    assert st.reuse_documents([b"y" * 1024, b"z"], n=20, size=1024) == [b"y" * 1024]  # fewer where there are fewer
