"""Equal-Info windows: exact round trips for every b, agreement with the Python reference,
the complete-code property, and the rule's parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.codecs import windows as equal_info
from compressor.codecs.windows import WINDOW_BITS
from compressor.coder import reference as reference_coder
from compressor.coder.native import WindowEncoder, encode_windows, quantize
from compressor.models.base import ALPHABET, EOS, symbols_of
from tests.conftest import TABLE_KINDS, HashModel, model_table

documents = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 3000), st.sampled_from([0, 101, 255])),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
)
# Documents and a model (table kind, precision, context size, seed) to code them with, at every b.
CODING_CASES = {
    "docs": st.lists(documents, min_size=1, max_size=6),
    "kind": st.sampled_from(TABLE_KINDS),
    "bits": st.sampled_from(WINDOW_BITS),
    "precision": st.sampled_from([9, 12, 14, 16]),
    "context_size": st.sampled_from([None, 0, 1, 3]),
    "seed": st.integers(0, 1000),
}


@given(**CODING_CASES)
@settings(max_examples=120, deadline=None)
def test_windows_round_trip(docs, kind, bits, precision, context_size, seed):
    model = HashModel(model_table(kind, 97, precision, seed), precision, context_size)
    syms = [symbols_of(d) for d in docs]
    encoded = equal_info.encode_documents(syms, model, bits)
    for w, s in zip(encoded, syms, strict=True):
        assert w.symbols.sum() == s.size and (w.symbols >= 1).all()
    decoded = equal_info.decode_documents([w.values for w in encoded], model, bits)
    for got, want in zip(decoded, syms, strict=True):
        assert isinstance(got, np.ndarray) and np.array_equal(got, want)


@given(**CODING_CASES)
@settings(max_examples=80, deadline=None)
def test_incremental_encoder_writes_the_span_encoders_windows(docs, kind, bits, precision, context_size, seed):
    model = HashModel(model_table(kind, 97, precision, seed), precision, context_size)
    syms = [symbols_of(d) for d in docs]
    spans = equal_info.encode_documents(syms, model, bits, incremental=False)
    steps = equal_info.encode_documents(syms, model, bits, incremental=True)
    for a, b in zip(spans, steps, strict=True):
        assert np.array_equal(a.values, b.values) and np.array_equal(a.symbols, b.symbols)
        assert a.ideal_bits == pytest.approx(b.ideal_bits, rel=1e-12)


def test_incremental_encoder_is_exact_rule_only():
    model = HashModel(model_table("peaked", 97, 14, 0), 14, 1)
    with pytest.raises(ValueError, match="exact rule only"):
        equal_info.encode_documents([symbols_of(b"ab")], model, 16, greedy=True, incremental=True)


def windows_by_reference(symbols: np.ndarray, model, bits: int, greedy: bool) -> list[tuple[int, int]]:
    out, pos, span = [], 0, 32
    while pos < symbols.size:
        cand = symbols[pos : pos + span]
        table, rows = model.predict(np.minimum(cand[None, :], 255))
        cdfs = table[rows[0, : cand.size]].tolist()
        consumed, value = reference_coder.encode_window(cdfs, cand.tolist(), bits, model.precision, EOS, greedy)
        if consumed == 0:
            span *= 2
            continue
        out.append((consumed, value))
        pos += consumed
    return out


@given(
    doc=documents.filter(lambda d: len(d) <= 400),
    kind=st.sampled_from(TABLE_KINDS),
    bits=st.sampled_from(WINDOW_BITS),
    precision=st.sampled_from([12, 14, 16]),
    greedy=st.booleans(),
    seed=st.integers(0, 1000),
)
@settings(max_examples=80, deadline=None)
def test_c_windows_equal_reference(doc, kind, bits, precision, greedy, seed):
    model = HashModel(model_table(kind, 31, precision, seed), precision)
    syms = symbols_of(doc)
    [got] = equal_info.encode_documents([syms], model, bits, greedy=greedy)
    c_windows = [(int(n), int.from_bytes(v.tobytes(), "big")) for n, v in zip(got.symbols, got.values, strict=True)]
    assert c_windows == windows_by_reference(syms, model, bits, greedy)


def decode_value(value: int, model, bits: int) -> list[int]:
    dec = reference_coder.WindowDecoder(value, bits, model.precision, ALPHABET, EOS)
    out: list[int] = []
    while True:
        table, rows = model.predict(np.array([out], dtype=np.int32).reshape(1, -1))
        s = dec.step(table[rows[0, -1]])
        if s < 0:
            return out
        out.append(s)
        if s == EOS:
            return out


@given(
    value=st.integers(0, 2**16 - 1),
    kind=st.sampled_from(TABLE_KINDS),
    seed=st.integers(0, 1000),
)
@settings(max_examples=150, deadline=None)
def test_every_value_decodes_and_re_encodes(value, kind, seed):
    """A complete code: any b-bit value (as M2 might sample) decodes to a window content, and
    that content encodes back to a value that decodes to it (the same value unless the window
    ends in EOS, whose child owns all of its values)."""
    bits, precision = 16, 14
    model = HashModel(model_table(kind, 13, precision, seed), precision)
    content = decode_value(value, model, bits)
    assert content, "a window holds at least one symbol"
    table, rows = model.predict(np.minimum(np.array([[*content, 0]], np.int32), 255))
    if content[-1] == EOS:
        consumed, values = encode_windows(
            table,
            rows[:, : len(content)],
            np.array([content], np.int32),
            np.array([len(content)], np.int32),
            bits,
            precision,
            EOS,
        )
        assert consumed[0] == len(content)
        assert decode_value(int.from_bytes(values[0].tobytes(), "big"), model, bits) == content
        return
    # The window ended at a node's own value: some next symbol has no value, and with it the window's value is `value`.
    ends = []
    for nxt in range(ALPHABET):
        syms = np.array([[*content, nxt]], np.int32)
        consumed, values = encode_windows(
            table, rows[:, : len(content) + 1], syms, np.array([len(content) + 1], np.int32), bits, precision, EOS
        )
        if consumed[0] == len(content):
            ends.append(int.from_bytes(values[0].tobytes(), "big"))
    assert ends and set(ends) == {value}


def test_long_predictable_run_fills_long_windows():
    model = HashModel(model_table("peaked", 1, 14, 0), 14, context_size=2)
    top = int(np.argmax(np.diff(model.table[0])))
    syms = symbols_of(bytes([top]) * 50_000)
    [w] = equal_info.encode_documents([syms], model, 128)
    assert w.symbols.max() > 2000  # ~0.023 bits per symbol
    [back] = equal_info.decode_documents([w.values], model, 128)
    assert np.array_equal(back, syms)


@pytest.mark.parametrize("bits", [8, 12, 20, 256])
def test_window_bits_must_be_supported(bits):
    model = HashModel(model_table("uniform", 1, 14, 0), 14)
    with pytest.raises(ValueError, match="window bits"):
        equal_info.encode_documents([symbols_of(b"x")], model, bits)


def test_window_bits_below_precision_rejected():
    model = HashModel(model_table("uniform", 1, 16, 0), 16)
    with pytest.raises(ValueError, match="precision"):
        equal_info.check_window_bits(16, 17)
    with pytest.raises(ValueError, match="window parameters"):
        encode_windows(
            model.table, np.zeros((1, 1), np.int32), np.zeros((1, 1), np.int32), np.ones(1, np.int32), 8, 16, EOS
        )


def test_documents_must_end_in_one_eos():
    model = HashModel(model_table("uniform", 1, 14, 0), 14)
    for bad in ([1, 2, 3], [EOS, 1, EOS], [300, EOS]):
        with pytest.raises(ValueError, match="EOS"):
            equal_info.encode_documents([np.array(bad, np.int32)], model, 16)


def test_truncated_and_extended_window_lists_are_reported():
    model = HashModel(model_table("dirichlet", 7, 14, 1), 14)
    [w] = equal_info.encode_documents([symbols_of(b"hello, equal info windows")], model, 16)
    short, long = w.values[:-1], np.concatenate([w.values, w.values[:1]])
    results = equal_info.decode_documents([short, long, w.values[:0]], model, 16)
    assert "truncated" in str(results[0])
    assert "truncated" in str(results[1])  # a window after EOS starts a part that never ends
    assert "no windows" in str(results[2])


def test_windows_after_eos_decode_as_the_next_part():
    model = HashModel(model_table("dirichlet", 7, 14, 1), 14)
    parts = [symbols_of(b"first part"), symbols_of(b""), symbols_of(b"and the second")]
    encoded = equal_info.encode_documents(parts, model, 16)
    [back] = equal_info.decode_documents([np.concatenate([w.values for w in encoded])], model, 16)
    assert np.array_equal(back, np.concatenate(parts))


@pytest.mark.parametrize(
    ("tail", "cdf_last", "window", "outcome"),
    [
        ([1], None, 16, "exact"),  # the 16 halvings leave one whole cell; the bits run out after them
        ([0, 1], None, 17, "short"),  # a 17th half cell holds the value, but the bits do not fix it
        ([1], [0, 15 << 10, 1 << 14], 15, "long"),  # 15 halvings leave two cells; the next 15/16 fixes a symbol
    ],
)
def test_greedy_read_back_outcomes(tail, cdf_last, window, outcome):
    """The paper's greedy windows read back by their bits alone, on binary sources whose
    intervals are worked out by hand (b = 16, P = 14)."""
    from compressor.bench.windows import _read_back

    half = [0, 1 << 13, 1 << 14]
    head = [0] * (16 if window >= 16 else 15)
    symbols = head + tail
    cdfs = [half] * len(symbols) if cdf_last is None else [half] * len(head) + [cdf_last]
    consumed, _ = reference_coder.encode_window(cdfs, symbols, 16, 14, terminal=-1, greedy=True)
    assert consumed == window
    assert _read_back(cdfs, symbols, window, 16, 14) == outcome


def test_a_surprise_after_a_sure_run_ends_the_window_at_the_last_node_keeping_a_value():
    """Narrow nodes of a near-certain symbol keep no value of their own (ending there is worth
    less than half a value): a rare symbol after them ends the window at the deepest node that
    keeps one, before symbols already fed, and those open the next window.  Every such window
    still decodes, and the C encoder agrees with the reference."""
    probs = np.full((1, ALPHABET), 0.03 / (ALPHABET - 1), np.float32)
    probs[0, ord("A")] = 0.97
    model = HashModel(quantize(probs, 14), 14, context_size=0)
    table = model.table
    backed_up = 0
    for k in range(1, 140, 3):
        syms = symbols_of(b"A" * k + b"B")
        enc = WindowEncoder(1, 16, 14, ALPHABET, EOS)
        slot, row = np.zeros(1, np.int32), np.zeros(1, np.int32)
        status, values, lengths = np.empty(1, np.int32), np.empty((1, 2), np.uint8), np.empty(1, np.int32)
        enc.start(slot)
        for fed, s in enumerate(syms):
            enc.step(slot, table, row, np.array([s], np.int32), status, values, lengths)
            if status[0] == equal_info.STEP_CLOSED:
                backed_up += int(lengths[0] < fed)
                reference = reference_coder.encode_window(
                    table[[0] * (fed + 1)].tolist(), syms[: fed + 1].tolist(), 16, 14, EOS
                )
                assert reference == (lengths[0], int.from_bytes(values[0].tobytes(), "big"))
                break
            if status[0] == equal_info.STEP_LAST:
                break
        [w] = equal_info.encode_documents([syms], model, 16)
        [back] = equal_info.decode_documents([w.values], model, 16)
        assert np.array_equal(back, syms)
    assert backed_up >= 5, backed_up
