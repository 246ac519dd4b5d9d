"""Token packing and corpus reading."""

from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
import zstandard
from conftest import url
from hypothesis import given
from hypothesis import strategies as st

from compressor.codecs.tokens import TokenError, bits_to_tokens, tokens_to_bytes
from compressor.io.corpus import CorpusError, iter_documents, read_documents, write_documents


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


def zstd(data: bytes, frames: int = 1) -> bytes:
    """`data` as a zstd file of `frames` frames back to back, each with its checksum (as the zstd tool writes)."""
    cctx = zstandard.ZstdCompressor(write_checksum=True)
    step = -(-len(data) // frames) if data else 1
    return b"".join(cctx.compress(data[i : i + step]) for i in range(0, max(len(data), 1), step))


def numbered_lines(n: int) -> bytes:
    return b"".join(b'{"text": "line %d", "url": "https://x/%d"}\n' % (i, i) for i in range(n))


@pytest.mark.parametrize("name", ["c4.jsonl.zst", "c4.json.zst"])
@pytest.mark.parametrize("frames", [1, 3])
def test_zstd_json_lines_read_as_the_plain_file(tmp_path, c4_sample, name, frames):
    plain = tmp_path / "c4.jsonl"
    plain.write_bytes(gzip.decompress(c4_sample.read_bytes()))
    packed = tmp_path / name
    packed.write_bytes(zstd(plain.read_bytes(), frames))
    docs = list(read_documents(plain))
    assert len(docs) == 900
    assert list(read_documents(packed)) == docs
    assert list(iter_documents(packed)) == list(iter_documents(plain))  # the same line numbers too
    streamed = tmp_path / "streamed.jsonl.zst"  # written as a stream: no content size in the frame header
    with streamed.open("wb") as fh, zstandard.ZstdCompressor().stream_writer(fh) as writer:
        writer.write(plain.read_bytes())
    assert list(read_documents(streamed)) == docs


def test_plain_text_zstd_is_one_document(tmp_path):
    data = b'\xff\xfe raw bytes\n{"text": "not parsed"}\n' * 1000
    path = tmp_path / "doc.txt.zst"
    path.write_bytes(zstd(data, frames=2))
    assert list(read_documents(path)) == [data]


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_zstd_yields_the_lines_before_the_cut_then_fails(tmp_path, keep):
    data = numbered_lines(20_000)
    full = zstd(data)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(full[: int(len(full) * keep)])
    docs, error = [], None
    for _, doc in iter_documents_until_error(path):
        if isinstance(doc, CorpusError):
            error = doc
        else:
            docs.append(doc)
    assert isinstance(error, CorpusError) and error.reason == "unreadable"  # the reason a cut gzip has
    assert re.search(r"cut\.jsonl\.zst: cannot read \(.*truncated", str(error))
    assert docs == [b"line %d" % i for i in range(len(docs))]  # what was read before the cut, in order
    assert len(docs) >= int(20_000 * keep) - 4_000  # most of it, less what the decoder had not yet emitted
    with pytest.raises(CorpusError, match="truncated"):
        list(read_documents(path))


def iter_documents_until_error(path):
    """iter_documents' pairs, and the CorpusError that ends a file, as the pipeline's reader sees them."""
    line = 0
    try:
        for line, doc in iter_documents(path):
            yield line, doc
    except CorpusError as exc:
        yield line + 1, exc


def test_truncated_gzip_and_zstd_are_reported_alike(tmp_path):
    data = numbered_lines(100)
    errors = []
    for name, packed in [("cut.jsonl.gz", gzip.compress(data)), ("cut.jsonl.zst", zstd(data))]:
        path = tmp_path / name
        path.write_bytes(packed[:-20])
        with pytest.raises(CorpusError, match=rf"^{re.escape(str(path))}: cannot read \(") as info:
            list(read_documents(path))
        errors.append(info.value.reason)
    assert errors == ["unreadable", "unreadable"]


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_corrupt_zstd_is_an_error(tmp_path, where):
    full = bytearray(zstd(numbered_lines(20_000)))
    full[int(len(full) * where)] ^= 0x5A
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(bytes(full))
    *_, (_, last) = iter_documents_until_error(path)  # the lines before it may read, or be malformed JSON
    assert isinstance(last, CorpusError) and last.reason == "unreadable"
    assert re.search(r"bad\.jsonl\.zst: cannot read \(zstd decompress", str(last))  # format or checksum
    path.write_bytes(zstd(numbered_lines(10)) + b"trailing garbage")
    with pytest.raises(CorpusError, match="cannot read"):
        list(read_documents(path))


def test_gs_zstd_json_lines_read_as_locally(gcs, tmp_path):
    data = numbered_lines(3000)
    local = tmp_path / "c4.jsonl.zst"
    local.write_bytes(zstd(data, frames=2))
    gcs.pipe(url("c4.jsonl.zst"), local.read_bytes())
    docs = [b"line %d" % i for i in range(3000)]
    assert list(read_documents(url("c4.jsonl.zst"))) == list(read_documents(local)) == docs
    gcs.pipe(url("cut.jsonl.zst"), local.read_bytes()[:-20])
    read = []
    with pytest.raises(CorpusError, match=r"^gs://corpus/cut\.jsonl\.zst: cannot read \(.*truncated"):
        read.extend(read_documents(url("cut.jsonl.zst")))
    assert read == docs[: len(read)] and len(read) > 1000


documents = st.lists(st.text(max_size=300).map(str.encode), max_size=40)


@given(docs=documents, frames=st.integers(1, 4))
def test_zstd_json_lines_round_trip(tmp_path_factory, docs, frames):
    path = tmp_path_factory.mktemp("zstd") / "docs.jsonl.zst"
    plain = write_documents(path.with_suffix(""), docs)
    path.write_bytes(zstd(plain.read_bytes(), frames))
    assert list(read_documents(path)) == docs


@given(docs=documents.filter(bool), frames=st.integers(1, 3), data=st.data())
def test_zstd_cut_inside_a_frame_is_an_error_after_a_prefix(tmp_path_factory, docs, frames, data):
    text = write_documents(tmp_path_factory.mktemp("zstd") / "docs.jsonl", docs).read_bytes()
    cctx = zstandard.ZstdCompressor(write_checksum=True)
    step = -(-len(text) // frames)
    parts = [cctx.compress(text[i : i + step]) for i in range(0, len(text), step)]
    ends = {sum(map(len, parts[:k])) for k in range(len(parts) + 1)}  # a cut there leaves whole frames
    whole = b"".join(parts)
    cut = data.draw(st.integers(0, len(whole) - 1).filter(lambda n: n not in ends))
    path = tmp_path_factory.mktemp("zstd") / "cut.jsonl.zst"
    path.write_bytes(whole[:cut])
    read = []
    with pytest.raises(CorpusError, match="cannot read"):
        read.extend(read_documents(path))
    assert read == docs[: len(read)]
