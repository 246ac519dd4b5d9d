"""The range coder: round trips, bit-for-bit agreement with the Python reference, exact bit
accounting and the overhead bound, over random and degenerate distributions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.coder import reference as reference_coder
from compressor.coder.native import RangeDecoder, RangeEncoder, quantize


@st.composite
def coded_sequences(draw):
    """(cdfs [N, n+1], symbols [N], precision) with a fresh CDF per symbol."""
    precision = draw(st.integers(1, 16))
    n = draw(st.integers(2, min(1 << precision, 300)))
    count = draw(st.integers(0, 200))
    shape = draw(st.sampled_from(["random", "peaked", "uniform", "pow2"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if shape == "random":
        probs = rng.dirichlet(np.full(n, 0.3), count)
    elif shape == "peaked":
        probs = np.full((count, n), 1e-12)
        probs[:, 0] = 1.0
    elif shape == "pow2":
        probs = 2.0 ** -rng.integers(0, 20, (count, n)).astype(float)
    else:
        probs = np.ones((count, n))
    cdfs = quantize(probs.astype(np.float32), precision) if count else np.zeros((0, n + 1), np.int32)
    if shape == "peaked":  # mostly the probable symbol, as in long predictable runs
        symbols = np.where(rng.random(count) < 0.95, 0, rng.integers(0, n, count))
    else:
        symbols = np.array([rng.choice(n, p=np.diff(c) / c[-1]) for c in cdfs], dtype=np.int64)
    return cdfs, symbols.astype(np.int32), precision


@given(coded_sequences())
@settings(max_examples=200, deadline=None)
def test_round_trip_matches_reference(case):
    cdfs, symbols, precision = case
    enc, ref = RangeEncoder(precision), reference_coder.RangeEncoder(precision)
    for i, s in enumerate(symbols):
        enc.encode_cdfs(cdfs[i : i + 1], symbols[i : i + 1])
        ref.encode(int(cdfs[i, s]), int(cdfs[i, s + 1] - cdfs[i, s]))
        assert enc.bits == ref.bits  # exact accounting at every point
    predicted = enc.bits
    data, nbits = enc.finish()
    assert (data, nbits) == ref.finish()
    assert nbits == predicted and len(data) == -(-nbits // 8)
    out = np.empty(len(symbols), np.int32)
    RangeDecoder(data, precision).decode_cdfs(cdfs, out)
    assert np.array_equal(out, symbols)
    dec = reference_coder.RangeDecoder(data, precision)
    assert [dec.decode(c) for c in cdfs] == symbols.tolist()


@given(coded_sequences())
@settings(max_examples=100, deadline=None)
def test_all_entry_points_write_the_same_stream(case):
    cdfs, symbols, precision = case
    streams = []
    for how in ("cdfs", "intervals"):
        enc = RangeEncoder(precision)
        if how == "cdfs":
            enc.encode_cdfs(cdfs, symbols)
        else:
            rows = np.arange(len(symbols))
            cum = cdfs[rows, symbols]
            enc.encode_intervals(cum, cdfs[rows, symbols + 1] - cum)
        streams.append(enc.finish())
    assert streams[0] == streams[1]


def test_probs_path_equals_cdf_path():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(256, 0.2), 5000).astype(np.float32)
    symbols = rng.integers(0, 256, 5000).astype(np.int32)
    a, b = RangeEncoder(14), RangeEncoder(14)
    a.encode_probs(probs, symbols)
    b.encode_cdfs(quantize(probs, 14), symbols)
    data = a.finish()
    assert data == b.finish()
    out = np.empty(5000, np.int32)
    RangeDecoder(data[0], 14).decode_probs(probs, out)
    assert np.array_equal(out, symbols)


def test_overhead_within_bound_of_ideal():
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.full(256, 0.1), 200_000).astype(np.float32)
    cdfs = quantize(probs, 14)
    symbols = rng.integers(0, 256, 200_000).astype(np.int32)
    enc = RangeEncoder(14)
    enc.encode_cdfs(cdfs, symbols)
    _, nbits = enc.finish()
    rows = np.arange(len(symbols))
    ideal = float(np.sum(14 - np.log2(cdfs[rows, symbols + 1] - cdfs[rows, symbols])))
    assert nbits <= ideal * 1.0001 + 2


def test_highly_predictable_run_costs_almost_nothing():
    cdf = quantize(np.array([[1.0] + [1e-12] * 256], np.float32), 14)
    n = 100_000
    enc = RangeEncoder(14)
    enc.encode_cdfs(np.repeat(cdf, n, axis=0), np.zeros(n, np.int32))
    data, nbits = enc.finish()
    ideal = n * -np.log2(cdf[0, 1] / 2**14)
    assert nbits <= ideal * 1.0001 + 2
    out = np.empty(n, np.int32)
    RangeDecoder(data, 14).decode_cdfs(np.repeat(cdf, n, axis=0), out)
    assert not out.any()


def test_empty_stream():
    # The initial range is 2^64 - 1, not 2^64: even the empty message takes one (zero) bit.
    enc = RangeEncoder(14)
    assert enc.bits == 1
    assert enc.finish() == (b"\x00", 1)


@given(coded_sequences(), st.binary(min_size=1, max_size=24))
@settings(max_examples=200, deadline=None)
def test_streams_are_prefix_free(case, trailer):
    """Any bits after a finished stream decode to the same symbols, so streams concatenate."""
    cdfs, symbols, precision = case
    enc = RangeEncoder(precision)
    enc.encode_cdfs(cdfs, symbols)
    data, nbits = enc.finish()
    ones_after_end = data[:-1] + bytes([data[-1] | 0xFF >> (nbits % 8 or 8)])  # the last byte's spare bits set
    for stream in (data + trailer, ones_after_end + trailer):
        out = np.empty(len(symbols), np.int32)
        RangeDecoder(stream, precision).decode_cdfs(cdfs, out)
        assert np.array_equal(out, symbols)
        dec = reference_coder.RangeDecoder(stream, precision)
        assert [dec.decode(c) for c in cdfs] == symbols.tolist()


@pytest.mark.parametrize(
    "cum, freq",
    [(-1, 2), (0, 0), (16, 1), (10, 7), (0, 17)],
    ids=["negative-cum", "zero-freq", "cum-at-total", "past-total", "freq-over-total"],
)
def test_encoder_rejects_bad_intervals(cum, freq):
    enc = RangeEncoder(4)
    with pytest.raises(ValueError, match="symbol 0"):
        enc.encode_intervals(np.array([cum], np.int32), np.array([freq], np.int32))


def test_encoder_rejects_bad_symbols_and_cdfs():
    enc = RangeEncoder(4)
    cdf = np.array([[0, 4, 8, 16]], np.int32)
    for s in (-1, 3):
        with pytest.raises(ValueError, match="out of range"):
            enc.encode_cdfs(cdf, np.array([s], np.int32))
    with pytest.raises(ValueError, match="CDF"):
        enc.encode_cdfs(np.array([[0, 8, 4, 16]], np.int32), np.array([1], np.int32))


def test_decoder_rejects_non_increasing_cdf():
    enc = RangeEncoder(4)
    enc.encode_cdfs(np.array([[0, 4, 8, 16]], np.int32), np.array([2], np.int32))
    data, _ = enc.finish()
    with pytest.raises(ValueError, match="CDF"):
        RangeDecoder(data, 4).decode_cdfs(np.array([[0, 8, 8, 16]], np.int32), np.empty(1, np.int32))
    with pytest.raises(ValueError, match="CDF"):
        RangeDecoder(data, 4).decode_cdfs(np.array([[0, 4, 8, 15]], np.int32), np.empty(1, np.int32))


def test_decoder_flags_value_outside_every_interval():
    # All-ones lands in the range the encoder never uses.
    with pytest.raises(ValueError, match="not a valid encoding"):
        RangeDecoder(b"\xff" * 8, 14).decode_cdfs(quantize(np.ones((1, 256), np.float32)), np.empty(1, np.int32))
