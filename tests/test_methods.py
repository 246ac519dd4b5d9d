"""Methods as tokenizers: exact round trips on random and real text, with every model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.codecs import parts as examples
from compressor.codecs.arithmetic import ArithmeticCodec
from compressor.codecs.equal_info import EqualInfoCodec
from compressor.codecs.results import DecodeError
from compressor.io.corpus import read_documents
from compressor.models.base import ALPHABET, symbols_of
from compressor.models.simple import Order2Model, UniformModel, UnigramModel, build_model
from compressor.tokenizers.simple import GZip

FIT = [b"It was the best of times, it was the worst of times.", "ein Grüß".encode(), b"\x00\x01\x02"]
MODELS = [UniformModel(), UnigramModel.fit(FIT), Order2Model.fit(FIT), Order2Model.fit(FIT, precision=16)]


@given(
    docs=st.lists(st.binary(max_size=200) | st.text(max_size=100).map(str.encode), min_size=1, max_size=5),
    model=st.sampled_from(MODELS),
    method=st.sampled_from([("eq", 16), ("eq", 24), ("eq", 32), ("eq", 64), ("eq", 128), ("ac", 0)]),
    token_bits=st.sampled_from([8, 16]),
)
@settings(max_examples=150, deadline=None)
def test_round_trip(docs, model, method, token_bits):
    kind, bits = method
    codec = EqualInfoCodec(model, bits, token_bits) if kind == "eq" else ArithmeticCodec(model, token_bits)
    encoded = codec.encode_batch(docs)
    for e in encoded:
        assert e.tokens.dtype == np.int32 and (e.tokens < codec.vocab_size).all()
        assert e.tokens.size == -(-e.coded_bits // token_bits)
    assert codec.decode_batch([e.tokens for e in encoded]) == docs


def _codec(kind: str, model, token_bits: int, example_bytes: int):
    if kind == "gzip":
        return GZip(token_bits, example_bytes)
    if kind == "ac":
        return ArithmeticCodec(model, token_bits, example_bytes)
    return EqualInfoCodec(model, int(kind), token_bits, example_bytes)


@given(
    docs=st.lists(st.binary(max_size=120), min_size=1, max_size=4),
    example_bytes=st.integers(1, 50),
    model=st.sampled_from(MODELS),
    kind=st.sampled_from(["16", "24", "128", "ac", "gzip"]),
    token_bits=st.sampled_from([8, 16]),
)
@settings(max_examples=150, deadline=None)
def test_long_documents_code_in_parts_that_rejoin(docs, example_bytes, model, kind, token_bits):
    codec = _codec(kind, model, token_bits, example_bytes)
    if kind == "gzip":
        encoded = codec.encode_detailed(docs)
        assert codec.decode_batch([e.ids for e in encoded]) == docs
        assert [e.examples for e in encoded] == [examples.count(len(d), example_bytes) for d in docs]
        return
    encoded = codec.encode_batch(docs)
    assert [e.examples for e in encoded] == [examples.count(len(d), example_bytes) for d in docs]
    assert codec.decode_batch([e.tokens for e in encoded]) == docs
    # The parts are the streams of the parts coded on their own, in order.
    for d, e in zip(docs, encoded, strict=True):
        parts, _ = examples.split([d], example_bytes)
        if kind == "ac" or int(kind) % token_bits == 0:
            alone = _codec(kind, model, token_bits, 10**6).encode_batch(parts)
            assert np.array_equal(e.tokens, np.concatenate([a.tokens for a in alone]))


@pytest.mark.parametrize("kind", ["16", "32", "ac", "gzip"])
def test_a_split_other_than_the_canonical_one_is_rejected(kind):
    model = Order2Model.fit(FIT)
    whole = _codec(kind, model, 16, 10**6)
    parts = [b"ab", b"cde"]  # with 3-byte examples, "abcde" is "abc" + "de"
    ids = [whole.encode(p) for p in parts] if kind == "gzip" else [e.tokens for e in whole.encode_batch(parts)]
    split3 = _codec(kind, model, 16, 3)
    [r] = (split3.try_decode_batch if kind == "gzip" else split3.decode_batch)([np.concatenate(ids)])
    assert isinstance(r, ValueError) and "canonical split" in str(r)


def test_plain_ac_is_near_ideal_and_rejects_trailing_tokens():
    codec = ArithmeticCodec(Order2Model.fit(FIT), 8)
    [e] = codec.encode_batch([FIT[0] * 20])
    assert e.coded_bits <= e.ideal_bits * 1.0001 + 2
    [r] = codec.decode_batch([np.append(e.tokens, 7)])  # read as a second part, which is no stream
    assert isinstance(r, DecodeError) and str(r).startswith("document 0 part 1: ")
    [r] = codec.decode_batch([e.tokens[:-1]])
    assert isinstance(r, DecodeError)


def test_equal_info_rejects_bad_padding_and_lengths():
    codec = EqualInfoCodec(Order2Model.fit(FIT), 24, 16)
    [e] = codec.encode_batch([b"abcdefgh" * 3])
    assert e.windows * 24 == e.coded_bits
    if e.coded_bits % 16:
        bad = e.tokens.copy()
        bad[-1] |= 1
        [r] = codec.decode_batch([bad])
        assert isinstance(r, DecodeError) and "padding" in str(r)
    [r] = codec.decode_batch([np.append(e.tokens, [0, 0])])
    assert isinstance(r, DecodeError)


def test_model_contracts():
    with pytest.raises(ValueError, match="byte values"):
        UniformModel().predict(np.array([[256]]))
    with pytest.raises(ValueError, match="unknown model"):
        build_model("trigram", FIT)
    with pytest.raises(ValueError, match="needs documents"):
        build_model("order2", None)
    table, rows = Order2Model.fit(FIT).predict(np.array([[104, 101, 108]]))
    assert rows.shape == (1, 4) and table.shape[1] == ALPHABET + 1
    assert rows[0, 0] == 0 and rows[0, 1] == 1 + 104


def test_order2_beats_unigram_on_held_out_c4(c4_sample):
    docs = list(read_documents(c4_sample, limit=200))
    fit, test = docs[:150], docs[150:]
    bits = {}
    for name in ("unigram", "order2"):
        codec = ArithmeticCodec(build_model(name, fit), 16)
        bits[name] = sum(e.coded_bits for e in codec.encode_batch(test)) / sum(map(len, test))
    assert bits["order2"] < 0.75 * bits["unigram"]
    assert bits["unigram"] < 5.0
    assert symbols_of(b"ab").tolist() == [97, 98, 256]


def test_stream_that_never_reaches_eos_is_reported():
    codec = ArithmeticCodec(UnigramModel.fit([b"\x00" * 100_000]), 8)
    [r] = codec.decode_batch([np.zeros(4, np.int32)])  # all zeros: the likeliest symbol, forever
    assert isinstance(r, DecodeError) and "no EOS within the stream's information" in str(r)
