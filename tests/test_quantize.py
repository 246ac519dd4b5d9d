"""Probability quantisation: total 2^P, every symbol >= 1, and the C and Python twins agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from compressor.coder import reference as reference_coder
from compressor.coder.native import RangeDecoder, RangeEncoder, check_cdfs, quantize

finite = st.floats(0, 2.0**100, width=32, allow_subnormal=True)


@st.composite
def prob_rows(draw):
    n = draw(st.integers(2, 300))
    precision = draw(st.integers(max(1, (n - 1).bit_length()), 16))
    shape = draw(st.sampled_from(["random", "peaked", "pow2", "uniform", "tiny"]))
    if shape == "random":
        p = draw(arrays(np.float32, n, elements=finite))
        if not p.any():
            p[draw(st.integers(0, n - 1))] = 1.0
    elif shape == "peaked":
        p = np.full(n, 1e-12, np.float32)
        p[draw(st.integers(0, n - 1))] = 1.0
    elif shape == "pow2":
        p = (2.0 ** -np.array(draw(st.lists(st.integers(0, 30), min_size=n, max_size=n)))).astype(np.float32)
    elif shape == "tiny":
        p = np.full(n, 1e-40, np.float32)  # subnormals only
    else:
        p = np.ones(n, np.float32)
    return p, precision


@given(prob_rows())
@settings(max_examples=300, deadline=None)
def test_quantize_matches_reference_and_is_a_cdf(case):
    p, precision = case
    cdf = quantize(p, precision)
    assert cdf.tolist() == reference_coder.quantize_row(p, precision)
    assert cdf[0] == 0 and cdf[-1] == 1 << precision
    assert (np.diff(cdf) >= 1).all()
    check_cdfs(cdf[None], precision)


@given(prob_rows())
@settings(max_examples=200, deadline=None)
def test_coding_from_probabilities_uses_the_reference_intervals(case):
    """Every symbol of a row coded from the floats (the encoder's interval, the decoder's search,
    each without the CDF) writes the stream the reference CDF writes, and decodes back."""
    p, precision = case
    n = len(p)
    rows, symbols = np.tile(p, (n, 1)), np.arange(n, dtype=np.int32)
    cdfs = np.tile(np.array(reference_coder.quantize_row(p, precision), np.int32), (n, 1))
    ours, theirs = RangeEncoder(precision), RangeEncoder(precision)
    ours.encode_probs(rows, symbols)
    theirs.encode_cdfs(cdfs, symbols)
    data = ours.finish()
    assert data == theirs.finish()
    out = np.empty(n, np.int32)
    RangeDecoder(data[0], precision).decode_probs(rows, out)
    assert out.tolist() == symbols.tolist()


def test_quantize_is_batch_invariant():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(257, 0.3), 64).astype(np.float32)
    batch = quantize(probs)
    for i in range(0, 64, 7):
        assert np.array_equal(quantize(probs[i : i + 1])[0], batch[i])
    assert np.array_equal(quantize(probs.reshape(8, 8, 257)).reshape(64, 258), batch)


def test_probable_symbols_keep_their_share():
    p = np.array([0.5, 0.25, 0.125, 0.125], np.float32)
    freq = np.diff(quantize(p, 14))
    assert np.allclose(freq / 2**14, p, atol=4 / 2**14)


@pytest.mark.parametrize(
    "bad",
    [[np.nan, 1.0], [np.inf, 1.0], [-0.5, 1.0], [0.0, 0.0], [-0.0, 1.0]],
    ids=["nan", "inf", "negative", "all-zero", "negative-zero"],
)
def test_quantize_rejects_bad_probabilities(bad):
    with pytest.raises(ValueError, match="finite, non-negative"):
        quantize(np.array([bad], np.float32))


def test_quantize_rejects_alphabet_larger_than_precision():
    with pytest.raises(ValueError, match="alphabet"):
        quantize(np.ones((1, 300), np.float32), 8)
    with pytest.raises(ValueError, match="alphabet"):
        quantize(np.ones((1, 1), np.float32), 8)


@pytest.mark.parametrize(
    "row, where",
    [([1, 5, 16], "entry 0"), ([0, 5, 5, 16], "entry 2"), ([0, 9, 5, 16], "entry 2"), ([0, 5, 15], "entry 2")],
)
def test_check_cdfs_names_the_bad_entry(row, where):
    with pytest.raises(ValueError, match=where):
        check_cdfs(np.array([row], np.int32), 4)
