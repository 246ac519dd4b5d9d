"""Garbage in, exceptions out: random and mutated token streams into every decoder, and wrong
buffers into every C entry point.  A crash here kills the test process, so passing means none."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.codecs.arithmetic import ArithmeticCodec
from compressor.codecs.equal_info import EqualInfoCodec
from compressor.codecs.results import DecodeError
from compressor.coder import _coder
from compressor.coder.native import RangeDecoder, RangeEncoder, WindowDecoder, WindowEncoder, quantize
from compressor.models.base import ALPHABET, EOS
from compressor.models.simple import Order2Model, UniformModel

TEXTS = [b"The quick brown fox jumps over the lazy dog. " * 3, b"", b"\x00" * 50, "naïve café – ünïcode".encode()]
MODEL = Order2Model.fit(TEXTS)
CODECS = [EqualInfoCodec(MODEL, b, t) for b, t in [(16, 8), (24, 16), (32, 16), (64, 8), (128, 16)]] + [
    ArithmeticCodec(MODEL, 8),
    ArithmeticCodec(UniformModel(), 16),
]
VALID = {id(c): [e.tokens for e in c.encode_batch(TEXTS)] for c in CODECS}


def decodes_or_reports(codec, streams):
    for r in codec.decode_batch(streams):
        assert isinstance(r, bytes | DecodeError)


@given(codec=st.sampled_from(CODECS), data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_token_streams(codec, data):
    streams = data.draw(st.lists(st.lists(st.integers(0, codec.vocab_size - 1), max_size=40), max_size=4))
    decodes_or_reports(codec, [np.array(s, dtype=np.int64) for s in streams])


@given(codec=st.sampled_from(CODECS), data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_token_streams(codec, data):
    valid = VALID[id(codec)]
    doc = data.draw(st.integers(0, len(valid) - 1))
    tokens = valid[doc].tolist()
    op = data.draw(st.sampled_from(["flip", "truncate", "append", "delete", "swap"]))
    if op == "flip" and tokens:
        i = data.draw(st.integers(0, len(tokens) - 1))
        tokens[i] ^= 1 << data.draw(st.integers(0, codec.token_bits - 1))
    elif op == "truncate":
        tokens = tokens[: data.draw(st.integers(0, len(tokens)))]
    elif op == "append":
        tokens += data.draw(st.lists(st.integers(0, codec.vocab_size - 1), min_size=1, max_size=5))
    elif op == "delete" and tokens:
        del tokens[data.draw(st.integers(0, len(tokens) - 1))]
    elif op == "swap" and len(tokens) > 1:
        i = data.draw(st.integers(0, len(tokens) - 2))
        tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    [result] = codec.decode_batch([np.array(tokens, dtype=np.int64)])
    if isinstance(result, bytes):
        # Equal-Info windows are a complete code: a changed window may decode to other text,
        # and that text must then survive its own round trip.
        assert codec.decode_batch(codec.encode_batch([result])[0].tokens[None]) == [result]


def test_out_of_range_and_malformed_tokens_are_reported():
    for codec in CODECS:
        for bad in ([codec.vocab_size], [-1], [[1, 2]], ["a"]):
            [r] = codec.decode_batch([np.array(bad, dtype=object)])
            assert isinstance(r, DecodeError)


@given(data=st.binary(max_size=64), precision=st.integers(1, 16), n=st.integers(2, 300), seed=st.integers(0, 99))
@settings(max_examples=200, deadline=None)
def test_range_decoder_on_garbage(data, precision, n, seed):
    if n > 1 << precision:
        n = 1 << precision
    rng = np.random.default_rng(seed)
    cdfs = quantize(rng.random((50, n)).astype(np.float32), precision)
    try:
        RangeDecoder(data, precision).decode_cdfs(cdfs, np.empty(50, np.int32))
    except ValueError as exc:
        assert "not a valid encoding" in str(exc)


@given(value=st.binary(min_size=2, max_size=2), table=st.lists(st.integers(-5, 2**15), min_size=258, max_size=258))
@settings(max_examples=200, deadline=None)
def test_window_decoder_on_garbage_cdfs(value, table):
    dec = WindowDecoder(1, 16, 14, ALPHABET, EOS)
    dec.start(np.zeros(1, np.int32), np.frombuffer(value, np.uint8).reshape(1, 2))
    try:
        dec.step(np.zeros(1, np.int32), np.array([table], np.int32), np.zeros(1, np.int32), np.empty(1, np.int32))
    except ValueError as exc:
        assert "CDF" in str(exc)


def test_window_decoder_misuse():
    dec = WindowDecoder(2, 16, 14, ALPHABET, EOS)
    table = quantize(np.ones((1, ALPHABET), np.float32))
    one, out = np.zeros(1, np.int32), np.empty(1, np.int32)
    with pytest.raises(ValueError, match="never started"):
        dec.step(one, table, one, out)
    with pytest.raises(IndexError, match="slots"):
        dec.start(np.array([5], np.int32), np.zeros((1, 2), np.uint8))
    dec.start(one, np.zeros((1, 2), np.uint8))
    with pytest.raises(IndexError, match="not a row"):
        dec.step(one, table, np.array([3], np.int32), out)
    with pytest.raises(ValueError, match="shape"):
        dec.start(one, np.zeros((1, 3), np.uint8))
    with pytest.raises(ValueError, match="window parameters"):
        WindowDecoder(1, 16, 14, 1, -1)
    with pytest.raises(ValueError, match="batch"):
        WindowDecoder(0, 16, 14, ALPHABET, EOS)


@given(symbol=st.integers(-3, 300), table=st.lists(st.integers(-5, 2**15), min_size=258, max_size=258))
@settings(max_examples=200, deadline=None)
def test_window_encoder_on_garbage_cdfs_and_symbols(symbol, table):
    enc = WindowEncoder(1, 16, 14, ALPHABET, EOS)
    enc.start(np.zeros(1, np.int32))
    status, values, lengths = np.empty(1, np.int32), np.empty((1, 2), np.uint8), np.empty(1, np.int32)
    try:
        enc.step(
            np.zeros(1, np.int32),
            np.array([table], np.int32),
            np.zeros(1, np.int32),
            np.array([symbol], np.int32),
            status,
            values,
            lengths,
        )
    except ValueError as exc:
        assert "CDF" in str(exc) or "out of range" in str(exc)
    else:
        assert 0 <= symbol < ALPHABET and status[0] in (0, 1, 2)


def test_window_encoder_misuse():
    enc = WindowEncoder(2, 16, 14, ALPHABET, EOS)
    table = quantize(np.ones((1, ALPHABET), np.float32))
    one, status, values = np.zeros(1, np.int32), np.empty(1, np.int32), np.empty((1, 2), np.uint8)
    lengths = np.empty(1, np.int32)
    with pytest.raises(ValueError, match="never started"):
        enc.step(one, table, one, one, status, values, lengths)
    with pytest.raises(IndexError, match="slots"):
        enc.start(np.array([2], np.int32))
    enc.start(one)
    with pytest.raises(IndexError, match="not a row"):
        enc.step(one, table, np.array([3], np.int32), one, status, values, lengths)
    with pytest.raises(ValueError, match="values"):
        enc.step(one, table, one, one, status, np.empty((1, 3), np.uint8), lengths)
    enc.step(one, table, one, np.array([EOS], np.int32), status, values, lengths)
    assert status[0] == 2 and lengths[0] == 1  # the terminal ends the window
    with pytest.raises(ValueError, match="has ended"):
        enc.step(one, table, one, one, status, values, lengths)


def encode_windows_with(**overrides):
    """A valid encode_windows call (one window, two symbols) with some arguments spoiled."""
    args = {
        "table": quantize(np.ones((1, 257), np.float32)),
        "rows": np.zeros((1, 2), np.int32),
        "symbols": np.zeros((1, 2), np.int32),
        "lengths": np.array([2], np.int32),
        "consumed": np.empty(1, np.int32),
        "values": np.empty((1, 2), np.uint8),
        "bits": 16,
        "precision": 14,
        "terminal": EOS,
    }
    return _coder.encode_windows(**{**args, **overrides})


def read_only(shape):
    a = np.empty(shape, np.int32)
    a.flags.writeable = False
    return a


BAD_BUFFERS = [
    ("float64 probs", lambda: _coder.quantize(np.ones((2, 4)), np.empty((2, 5), np.int32), 14), TypeError),
    ("1-D probs", lambda: _coder.quantize(np.ones(4, np.float32), np.empty((1, 5), np.int32), 14), ValueError),
    ("out shape", lambda: _coder.quantize(np.ones((2, 4), np.float32), np.empty((2, 4), np.int32), 14), ValueError),
    ("read-only out", lambda: _coder.quantize(np.ones((1, 4), np.float32), read_only((1, 5)), 14), TypeError),
    ("precision 0", lambda: _coder.quantize(np.ones((1, 4), np.float32), np.empty((1, 5), np.int32), 0), ValueError),
    ("precision 17", lambda: RangeEncoder(17), ValueError),
    (
        "non-contiguous",
        lambda: RangeEncoder(14).encode_cdfs(np.zeros((4, 6), np.int32)[:, ::2], np.zeros(4, np.int32)),
        TypeError,
    ),
    (
        "length mismatch",
        lambda: RangeEncoder(14).encode_intervals(np.zeros(3, np.int32), np.ones(2, np.int32)),
        ValueError,
    ),
    ("not a buffer", lambda: RangeEncoder(14).encode_intervals([1], [1]), TypeError),
    (
        "int64 symbols",
        lambda: RangeEncoder(14).encode_cdfs(np.zeros((1, 3), np.int32), np.zeros(1, np.int64)),
        TypeError,
    ),
    (
        "decoder out size",
        lambda: RangeDecoder(b"", 14).decode_cdfs(quantize(np.ones((2, 4), np.float32)), np.empty(1, np.int32)),
        ValueError,
    ),
    ("decoder data", lambda: RangeDecoder(12345, 14), TypeError),
    ("window lengths", lambda: encode_windows_with(lengths=np.array([3], np.int32)), ValueError),
    ("window rows", lambda: encode_windows_with(rows=np.ones((1, 2), np.int32)), IndexError),
    ("window symbol", lambda: encode_windows_with(symbols=np.full((1, 2), 999, np.int32)), ValueError),
    ("window bits 20", lambda: encode_windows_with(bits=20), ValueError),
    ("window values", lambda: encode_windows_with(values=np.empty((1, 3), np.uint8)), ValueError),
    ("window terminal", lambda: encode_windows_with(terminal=257), ValueError),
]


@pytest.mark.parametrize("name, call, error", BAD_BUFFERS, ids=[b[0] for b in BAD_BUFFERS])
def test_bad_buffers_raise(name, call, error):
    with pytest.raises(error):
        call()


@given(
    value=st.binary(min_size=2, max_size=2),
    seeds=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40),
    garbage_at=st.integers(0, 60),
)
@settings(max_examples=150, deadline=None)
def test_window_decoder_deep_in_a_window(value, seeds, garbage_at):
    """Past the wide nodes: any value, peaked and flat CDFs that change every step (so narrow
    nodes split, keep values and hand all of theirs on), and now and then a broken row; the
    decoder only ever ends the window, returns a symbol or raises ValueError."""
    dec = WindowDecoder(1, 16, 14, ALPHABET, EOS)
    slot, out = np.zeros(1, np.int32), np.empty(1, np.int32)
    dec.start(slot, np.frombuffer(value, np.uint8).reshape(1, 2))
    for step, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        probs = rng.dirichlet(np.full(ALPHABET, 0.05 if seed % 2 else 5.0)).astype(np.float32)
        table = quantize(probs[None, :], 14)
        if step == garbage_at:
            table[0, 1 + seed % ALPHABET] = table[0, seed % ALPHABET]
        try:
            dec.step(slot, table, np.zeros(1, np.int32), out)
        except ValueError as exc:
            assert step == garbage_at and "CDF" in str(exc)
            return
        assert -1 <= out[0] < ALPHABET
        if out[0] < 0 or out[0] == EOS:
            return


@given(
    symbols=st.lists(st.integers(0, ALPHABET - 1), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
def test_window_encoder_deep_in_a_window(symbols, seed):
    """The encoder past the wide nodes, on changing peaked and flat CDFs: every symbol is coded,
    or ends the window with a length no longer than the symbols fed to it."""
    enc = WindowEncoder(1, 16, 14, ALPHABET, EOS)
    slot, row = np.zeros(1, np.int32), np.zeros(1, np.int32)
    status, values, lengths = np.empty(1, np.int32), np.empty((1, 2), np.uint8), np.empty(1, np.int32)
    enc.start(slot)
    rng = np.random.default_rng(seed)
    for fed, s in enumerate(symbols):
        probs = rng.dirichlet(np.full(ALPHABET, 0.05 if rng.random() < 0.5 else 5.0)).astype(np.float32)
        enc.step(slot, quantize(probs[None, :], 14), row, np.array([s], np.int32), status, values, lengths)
        if status[0] != 0:
            assert 1 <= lengths[0] <= fed + (status[0] == 2)
            return
