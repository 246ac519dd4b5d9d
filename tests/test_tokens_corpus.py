"""Token packing and corpus reading."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from compressor.codecs.tokens import TokenError, bits_to_tokens, tokens_to_bytes
from compressor.io.corpus import CorpusError, read_documents, write_documents


@given(data=st.binary(max_size=64), token_bits=st.sampled_from([8, 16]), cut=st.integers(0, 7))
def test_tokens_round_trip(data, token_bits, cut):
    nbits = max(0, len(data) * 8 - cut)
    tokens = bits_to_tokens(data, nbits, token_bits)
    assert tokens.size == -(-nbits // token_bits)
    assert tokens.max(initial=0) < 1 << token_bits
    back = tokens_to_bytes(tokens, token_bits)
    whole = nbits // 8
    assert back[:whole] == data[:whole]
    assert not any(back[-(-nbits // 8) :])  # zero padding
    if nbits % 8:
        assert back[whole] >> (8 - nbits % 8) == data[whole] >> (8 - nbits % 8)


def test_token_errors():
    with pytest.raises(TokenError, match="outside"):
        tokens_to_bytes(np.array([256]), 8)
    with pytest.raises(TokenError, match="1-D"):
        tokens_to_bytes(np.array([[1]]), 8)
    with pytest.raises(ValueError, match="token bits"):
        bits_to_tokens(b"", 0, 12)


def test_reads_c4_sample(c4_sample):
    docs = list(read_documents(c4_sample))
    assert len(docs) == 900
    assert sum(map(len, docs)) == 2_021_896  # the sample's README figure
    assert len(list(read_documents(c4_sample, limit=5))) == 5


def test_both_timestamp_styles_and_escapes(tmp_path):
    lines = [
        '{"text": "caf\\u00e9 \\/ ok", "timestamp": "2019-04-25 12:57:54", "url": "https:\\/\\/x"}',
        json.dumps({"text": "plain", "timestamp": "2019-04-25T12:57:54Z", "url": "https://x"}),
        "",
    ]
    path = tmp_path / "c4.json.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    assert list(read_documents(path)) == ["café / ok".encode(), b"plain"]


@pytest.mark.parametrize(
    "line, reason",
    [
        ("{not json", "malformed JSON"),
        ('{"url": "x"}', "no 'text'"),
        ('{"text": 5}', "not a string"),
        ('{"text": "\\ud800"}', "not valid Unicode"),
        ("[1, 2]", "no 'text'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(CorpusError, match=rf"bad.jsonl:2: .*{reason}"):
        list(read_documents(path))


def test_plain_text_and_missing_files(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_bytes(b"\xff\xfe raw bytes")
    assert list(read_documents(path)) == [b"\xff\xfe raw bytes"]
    with pytest.raises(CorpusError, match="no such file"):
        list(read_documents(tmp_path / "missing.txt"))
    truncated = tmp_path / "cut.json.gz"
    truncated.write_bytes(gzip.compress(b'{"text": "a"}\n' * 100)[:-20])
    with pytest.raises(CorpusError, match="cannot read"):
        list(read_documents(truncated))


def test_written_documents_read_back_and_bytes_that_are_not_text_are_refused(tmp_path):
    docs = ['café \n "quoted"'.encode(), b"", "\u2028 line separator".encode()]
    path = write_documents(tmp_path / "sub" / "docs.jsonl", docs)
    assert list(read_documents(path)) == docs
    with pytest.raises(CorpusError, match=r"document 1 is not UTF-8 text \(byte 1\)") as info:
        write_documents(tmp_path / "bad.jsonl", [b"ok", b"a\xffb"])
    assert info.value.reason == "invalid_utf8"
