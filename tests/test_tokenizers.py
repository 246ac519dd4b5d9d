"""Every method behind one tokenizer interface: exact round trips, spec strings, clean errors, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.bench import tokenizers as bench_tokenizers
from compressor.io.corpus import read_documents
from compressor.models.simple import UniformModel
from compressor.tokenizers import SpecError, Tokenizer, TokenizerDecodeError, TokenizerEncodeError, parse_spec
from compressor.tokenizers.simple import GZip
from compressor.tokenizers.sources import MODEL_LOADERS, register_model_loader
from compressor.tokenizers.spec import Spec
from compressor.tokenizers.spm import SentencePiece, train_sentencepiece

FIT_DOCS, SPM_DOCS, SPM_VOCAB = 100, 200, 500

# {fit}: a small C4 file; {spm}: a SentencePiece model trained on C4 (fixtures below).
SPECS = [
    "bytes",
    "sentencepiece:model={spm}",
    "gzip:v=256",
    "gzip:v=65536",
    "static_ac:v=256,fit={fit}",
    "static_ac:v=65536,fit={fit},p=12",
    "ac:v=256,model=uniform",
    "ac:v=65536,model=order2,fit={fit}",
    "equal_info_ac:b=16,v=256,model=order2,fit={fit}",
    "equal_info_ac:b=16,v=65536,model=order2,fit={fit}",
    "equal_info_ac:b=24,v=65536,model=unigram,fit={fit}",
    "equal_info_ac:b=128,v=256,model=order2,fit={fit},p=16",
]
BYTES_OK = [s for s in SPECS if not s.startswith("sentencepiece")]

WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u2581", "\x00", "a", "é", "😀", "ﬁ"]
texts = st.text(max_size=80) | st.lists(st.sampled_from(WHITESPACE), max_size=20).map("".join)


@pytest.fixture(scope="session")
def c4_docs(c4_sample) -> list[bytes]:
    return list(read_documents(c4_sample, 300))


@pytest.fixture(scope="session")
def fit_file(tmp_path_factory, c4_docs) -> Path:
    path = tmp_path_factory.mktemp("fit") / "fit.jsonl"
    path.write_text("".join(json.dumps({"text": d.decode()}) + "\n" for d in c4_docs[:FIT_DOCS]))
    return path


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory, c4_docs) -> Path:
    return train_sentencepiece(c4_docs[:SPM_DOCS], tmp_path_factory.mktemp("spm") / "c4", SPM_VOCAB)


@pytest.fixture(scope="session")
def tokenizers(fit_file, spm_model) -> dict[str, Tokenizer]:
    return {s: parse_spec(s.format(fit=fit_file, spm=spm_model)) for s in SPECS}


def check_round_trip(tok: Tokenizer, docs: list[bytes]) -> None:
    ids = tok.encode_batch(docs)
    for a in ids:
        assert a.dtype == np.int32 and a.ndim == 1
        assert a.size == 0 or (a.min() >= 0 and a.max() < tok.vocab_size)
    assert tok.decode_batch(ids) == docs
    assert tok.try_decode_batch(ids) == docs


@pytest.mark.parametrize("spec", SPECS)
@given(docs=st.lists(texts, max_size=4))
@settings(max_examples=40, deadline=None)
def test_text_round_trips(tokenizers, spec, docs):
    tok = tokenizers[spec]
    check_round_trip(tok, [d.encode() for d in docs])
    for d in docs:
        assert tok.decode(tok.encode(d)) == d.encode()


@pytest.mark.parametrize("spec", BYTES_OK)
@given(docs=st.lists(st.binary(max_size=120), max_size=4))
@settings(max_examples=40, deadline=None)
def test_byte_round_trips(tokenizers, spec, docs):
    check_round_trip(tokenizers[spec], docs)


def test_real_text_round_trips_and_ratios(tokenizers, c4_docs):
    held_out = c4_docs[SPM_DOCS : SPM_DOCS + 10]
    for spec, tok in tokenizers.items():
        check_round_trip(tok, held_out)
        ratio = sum(map(len, held_out)) / sum(a.size for a in tok.encode_batch(held_out))
        assert ratio == 1.0 if spec == "bytes" else ratio > 0.9, spec


# --- spec strings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS)
def test_canonical_spec_round_trips(tokenizers, spec):
    tok = tokenizers[spec]
    assert str(Spec.parse(tok.spec)) == tok.spec
    again = parse_spec(tok.spec)
    assert again.spec == tok.spec and type(again) is type(tok) and again.vocab_size == tok.vocab_size


def test_canonical_form_orders_keys_and_fills_precision():
    spec = Spec.parse(" equal_info_ac: fit=x.json, model=order2, v=65536, b=016 ")
    assert str(spec) == "equal_info_ac:b=16,v=65536,model=order2,fit=x.json,p=14"
    assert Spec.parse(str(spec)) == spec
    assert str(Spec.parse("gzip:v=256")) == "gzip:v=256" and str(Spec.parse("bytes")) == "bytes"


def test_fitted_models_are_cached(fit_file):
    a = parse_spec(f"ac:v=256,model=order2,fit={fit_file}")
    b = parse_spec(f"equal_info_ac:b=32,v=65536,model=order2,fit={fit_file}")
    assert a.model is b.model
    assert parse_spec(f"ac:v=256,model=order2,fit={fit_file},p=12").model is not a.model


@pytest.mark.parametrize(
    "spec, message",
    [
        ("bpe", "unknown tokenizer 'bpe'"),
        ("", "unknown tokenizer"),
        ("bytes:v=256", "unknown key 'v' for bytes"),
        ("gzip", "gzip needs v="),
        ("gzip:v=512", "v=512 must be one of 256, 65536"),
        ("gzip:v=256,v=65536", "duplicate key 'v'"),
        ("gzip:v", "'v' is not key=value"),
        ("gzip:v=", "must be non-empty"),
        ("gzip:v=1=2", "without ',' or '='"),
        ("sentencepiece", "sentencepiece needs model="),
        ("static_ac:v=256", "static_ac needs fit="),
        ("static_ac:v=256,fit=x,model=order2", "unknown key 'model' for static_ac"),
        ("ac:v=256", "exactly one model source"),
        ("ac:v=256,model=trigram", "model=trigram is not one of"),
        ("ac:v=256,model=order2", "needs fit=PATH"),
        ("ac:v=256,model=uniform,fit=x", "fit= is only for"),
        ("ac:v=256,model=uniform,m1=x", "exactly one model source"),
        ("ac:v=256,model=uniform,p=0", "p=0 must be one of"),
        ("ac:v=256,model=uniform,p=x", "p=x must be one of"),
        ("equal_info_ac:v=256,model=uniform", "equal_info_ac needs b="),
        ("equal_info_ac:b=20,v=256,model=uniform", "b=20 must be one of 16, 24, 32, 64, 128"),
        ("equal_info_ac:b=16,v=256,model=uniform,t=8", "unknown key 't'"),
    ],
)
def test_spec_errors(spec, message):
    with pytest.raises(SpecError, match=message):
        Spec.parse(spec)
    with pytest.raises(SpecError, match=message):
        parse_spec(spec)


def test_build_errors(tmp_path):
    with pytest.raises(SpecError, match=r"fit=\S*absent.jsonl: cannot read"):
        parse_spec(f"static_ac:v=256,fit={tmp_path / 'absent.jsonl'}")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(SpecError, match="holds no documents"):
        parse_spec(f"static_ac:v=256,fit={tmp_path / 'empty.jsonl'}")
    with pytest.raises(SpecError, match="cannot load the model"):
        parse_spec(f"sentencepiece:model={tmp_path / 'absent.model'}")


def test_model_sources_are_checked_when_parsed_and_read_when_built(tmp_path):
    spec = "equal_info_ac:b=16,v=65536,m1=runs/m1"
    assert str(Spec.parse(spec)) == spec + ",p=14"  # parsing reads no file
    with pytest.raises(SpecError, match="unknown key 'toy' for ac"):
        Spec.parse("ac:v=256,toy=x")  # no loader has that key
    with pytest.raises(SpecError, match=r"m1=\S*absent,p=14: \S*integer.safetensors missing"):
        parse_spec(f"equal_info_ac:b=16,v=65536,m1={tmp_path / 'absent'}")


def test_registered_model_loader_plugs_in(monkeypatch):
    calls = []

    def load(value: str, precision: int) -> UniformModel:
        calls.append((value, precision))
        return UniformModel(precision)

    monkeypatch.setitem(MODEL_LOADERS, "toy", load)
    tok = parse_spec("equal_info_ac:b=16,v=65536,toy=some/checkpoint,p=13")
    assert calls == [("some/checkpoint", 13)]
    assert tok.spec == "equal_info_ac:b=16,v=65536,toy=some/checkpoint,p=13"
    check_round_trip(tok, [b"plugged in", b""])
    monkeypatch.setitem(MODEL_LOADERS, "toy", lambda value, precision: UniformModel(12))
    with pytest.raises(SpecError, match="precision 12, the spec asks for p=14"):
        parse_spec("ac:v=256,toy=x")
    with pytest.raises(ValueError, match="reserved"):
        register_model_loader("fit", load)


# --- decoding errors --------------------------------------------------------------------------------


def gzip_ids_of_parity(tok: GZip, odd: bool) -> np.ndarray:
    for k in range(64):
        doc = bytes(range(k))
        if len(tok.encode_detailed([doc])[0].ids) * 2 - tok.encode_detailed([doc])[0].coded_bits // 8 == int(odd):
            return tok.encode(doc)
    raise AssertionError("no stream of that parity")


@pytest.mark.parametrize("token_bits", [8, 16])
def test_gzip_rejects_garbage_truncation_and_padding(token_bits):
    tok = GZip(token_bits)
    ids = tok.encode(b"It was the best of times, it was the worst of times." * 3)
    assert tok.decode(ids).startswith(b"It was")
    cases = {
        "not a gzip stream": np.arange(12) % tok.vocab_size,
        "truncated": ids[:-3],
        "after the end": np.append(ids, [0, 0]),
        "outside 0..": np.append(ids, tok.vocab_size),
    }
    crc = ids.copy()
    crc[-5] ^= 1  # the CRC-32 / length trailer
    for message, bad in cases.items():
        [r] = tok.try_decode_batch([bad])
        assert isinstance(r, TokenizerDecodeError) and message in str(r) and str(r).startswith("document 0:")
        with pytest.raises(TokenizerDecodeError, match=message):
            tok.decode(bad)
    with pytest.raises(TokenizerDecodeError):
        tok.decode(crc)
    with pytest.raises(TokenizerDecodeError, match=r"document 1: .*truncated"):
        tok.decode_batch([ids, ids[:4]])


def test_gzip_16_bit_padding_is_exactly_one_zero_byte():
    tok = GZip(16)
    odd = gzip_ids_of_parity(tok, odd=True)
    tok.decode(odd)
    bad = odd.copy()
    bad[-1] |= 1
    with pytest.raises(TokenizerDecodeError, match="must be one zero byte"):
        tok.decode(bad)
    even = gzip_ids_of_parity(tok, odd=False)
    tok.decode(even)
    with pytest.raises(TokenizerDecodeError, match="2 bytes after the end"):
        tok.decode(np.append(even, 0))


def test_coded_methods_report_undecodable_streams(tokenizers):
    tok = tokenizers["ac:v=65536,model=order2,fit={fit}"]
    [doc] = tok.encode_detailed([b"padding bits are not canonical"])
    assert doc.padding_bits > 0
    with pytest.raises(TokenizerDecodeError, match="canonical"):  # decodes the same: the stream is prefix-free
        tok.decode(doc.ids ^ np.eye(1, doc.ids.size, doc.ids.size - 1, dtype=np.int32)[0])
    with pytest.raises(TokenizerDecodeError, match="document 0 part 1: "):  # a trailing token is no stream
        tok.decode(np.append(doc.ids, 5))
    eq = tokenizers["equal_info_ac:b=16,v=256,model=order2,fit={fit}"]
    ids = eq.encode(b"three windows at least, surely")
    [r] = eq.try_decode_batch([ids[:-1]])
    assert isinstance(r, TokenizerDecodeError) and "document 0" in str(r)
    assert isinstance(tokenizers["bytes"].try_decode_batch([[256]])[0], TokenizerDecodeError)


@pytest.mark.parametrize("spec", SPECS)
def test_any_ids_decode_or_raise_the_decode_error(tokenizers, spec):
    tok = tokenizers[spec]
    for junk in [[], np.zeros(0), [1.5], [[1, 2]], [2**70], ["a"], [True], [-1]]:
        [r] = tok.try_decode_batch([junk])
        assert isinstance(r, bytes | TokenizerDecodeError), (junk, r)
    assert tok.try_decode_batch([]) == [] and tok.encode_batch([]) == []


# --- SentencePiece ----------------------------------------------------------------------------------


def test_sentencepiece_trained_on_c4(tokenizers, spm_model, c4_docs):
    tok = tokenizers["sentencepiece:model={spm}"]
    assert isinstance(tok, SentencePiece) and tok.vocab_size == SPM_VOCAB
    assert spm_model.with_suffix(".vocab").is_file()
    text = "  leading, inner   and trailing  \n\n\ttabs ▁ literal ▁▁ 😀 ﬁ\u3000 \r\n"
    assert tok.decode(tok.encode(text)) == text.encode()
    with pytest.raises(TokenizerEncodeError, match="document 0 is not valid UTF-8"):
        tok.encode(b"ok \xff no")
    with pytest.raises(TokenizerEncodeError, match="not valid Unicode"):
        tok.encode("lone \ud800 surrogate")
    byte_ff = tok.processor.piece_to_id("<0xFF>")
    for bad, message in [([0], "control piece <unk>"), ([SPM_VOCAB], "outside"), ([byte_ff], "UTF-8")]:
        with pytest.raises(TokenizerDecodeError, match=message):
            tok.decode(bad)


def test_sentencepiece_refuses_models_that_are_not_exact(tmp_path, c4_docs):
    import sentencepiece as spm

    texts = [d.decode() for d in c4_docs[:30]]
    for name, options in [("nofallback", {"vocab_size": 300}), ("nfkc", {"vocab_size": 700, "byte_fallback": True})]:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_prefix=str(tmp_path / name), minloglevel=2, **options
        )
    with pytest.raises(SpecError, match="byte_fallback"):
        SentencePiece(tmp_path / "nofallback.model")
    with pytest.raises(SpecError, match="does not round-trip text exactly"):
        SentencePiece(tmp_path / "nfkc.model")


def test_train_sentencepiece_errors(tmp_path, c4_docs):
    with pytest.raises(TokenizerEncodeError, match="training document 1"):
        train_sentencepiece([b"ok", b"\xff"], tmp_path / "x", 300)
    with pytest.raises(ValueError, match="Vocabulary size too high"):
        train_sentencepiece(c4_docs[:5], tmp_path / "x", 32000)


# --- bench and command line -------------------------------------------------------------------------


def test_bench_tokenizers(c4_docs):
    specs = ["bytes", "sentencepiece:model={spm}", "gzip:v=65536", "equal_info_ac:b=16,v=65536,model=order2,fit={fit}"]
    result = bench_tokenizers.run(c4_docs[:60], c4_docs[280:300], specs, spm_vocab_size=32000)
    print(bench_tokenizers.format_table(result))
    rows = {r["tokenizer"]: r for r in result["results"]}
    assert list(rows) == specs and all(r["exact"] for r in rows.values())
    assert rows["bytes"]["bytes_per_token"] == 1.0 and rows["bytes"]["paper_bytes_per_token"] == 1.0
    assert 256 < result["spm_vocab_size"] < 32000  # 60 documents cannot support 32k pieces
    eq = rows["equal_info_ac:b=16,v=65536,model=order2,fit={fit}"]
    assert eq["coded_bits"] == 16 * eq["windows"] and eq["paper_bytes_per_token"] == 5.31
    assert rows["gzip:v=65536"]["ideal_bits"] is None


def eqinfo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compressor.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("suffix", [".jsonl", ".npz"])
def test_cli_encode_decode(tmp_path, fit_file, suffix):
    spec = f"equal_info_ac:b=16,v=65536,model=order2,fit={fit_file}"
    ids = tmp_path / f"ids{suffix}"
    proc = eqinfo("encode", "--tokenizer", spec, "--input", fit_file, "--output", ids, "--limit", "12")
    assert proc.returncode == 0, proc.stderr
    s = last_json(proc.stdout)
    assert s["documents"] == 12 and s["tokenizer"] == spec + ",p=14" and s["bytes_per_token"] > 1
    out = tmp_path / "out.jsonl"
    proc = eqinfo("decode", "--tokenizer", spec, "--input", ids, "--output", out)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["text"].encode() for line in out.open()] == list(read_documents(fit_file, 12))


def test_in_chunks_calls_in_order_and_reports_progress(tokenizers, c4_docs):
    from contextlib import contextmanager

    from compressor.tokenizers.check import in_chunks

    bars = []

    @contextmanager
    def progress(label, total):
        bars.append([label, total, 0])
        yield type("Bar", (), {"update": lambda self, n: bars[-1].__setitem__(2, bars[-1][2] + n)})()

    tok = tokenizers["equal_info_ac:b=16,v=65536,model=order2,fit={fit}"]
    docs = c4_docs[:10]
    calls = []
    chunked = in_chunks(lambda d: calls.append(len(d)) or tok.encode_batch(d), docs, [1] * 10, "encode", progress, 3)
    assert calls == [3, 3, 3, 1] and bars == [["encode", 10, 10]]
    assert all(np.array_equal(a, b) for a, b in zip(chunked, tok.encode_batch(docs), strict=True))


def test_cli_decode_reports_bad_documents_and_keeps_the_rest(tmp_path):
    src = tmp_path / "docs.txt"
    src.write_bytes("one document, \xff-free, with é\n".encode())
    ids = tmp_path / "ids.jsonl"
    assert eqinfo("encode", "--tokenizer", "gzip:v=256", "--input", src, "--output", ids).returncode == 0
    good = json.loads(ids.read_text())["ids"]
    ids.write_text("\n".join(json.dumps({"ids": x}) for x in [good, good[:-2], [255, 3], good]) + "\n")
    out = tmp_path / "out.jsonl"
    proc = eqinfo("decode", "--tokenizer", "gzip:v=256", "--input", ids, "--output", out)
    assert proc.returncode == 1
    assert "document 1: gzip stream is truncated" in proc.stderr and "document 2:" in proc.stderr
    lines = [json.loads(line) for line in out.open()]
    assert [next(iter(r)) for r in lines] == ["text", "error", "error", "text"]
    assert lines[0]["text"] == src.read_text()
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe not text")
    assert eqinfo("encode", "--tokenizer", "bytes", "--input", binary, "--output", ids).returncode == 0
    assert eqinfo("decode", "--tokenizer", "bytes", "--input", ids, "--output", out).returncode == 0
    assert json.loads(out.read_text()) == {"bytes_base64": "//4gbm90IHRleHQ="}
    ids.write_text("{not json\n")
    proc = eqinfo("decode", "--tokenizer", "bytes", "--input", ids, "--output", out)
    assert proc.returncode == 1 and "ids.jsonl:1: not a token line" in proc.stderr


def test_cli_train_spm_then_encode_and_check(tmp_path, fit_file):
    prefix = tmp_path / "spm"
    proc = eqinfo("train-spm", "--input", fit_file, "--out", prefix, "--vocab-size", "400", "--limit", "60")
    assert proc.returncode == 0, proc.stderr
    s = last_json(proc.stdout)
    assert s == {"tokenizer": f"sentencepiece:model={prefix}.model", "vocab_size": 400, "documents": 60}
    proc = eqinfo("codec-check", "--tokenizer", s["tokenizer"], "--input", fit_file)
    assert proc.returncode == 0, proc.stderr
    check = last_json(proc.stdout)
    for key in ("documents", "raw_bytes", "tokens", "windows", "padding_bits", "bytes_per_token", "ideal_bits"):
        assert key in check
    assert check["exact"] is True and check["mismatches"] == 0 and check["documents"] == FIT_DOCS
    proc = eqinfo("train-spm", "--input", fit_file, "--out", prefix, "--limit", "3")
    assert proc.returncode == 1 and "--soft-vocab-limit" in proc.stderr


def test_cli_errors_and_help(tmp_path, fit_file):
    proc = eqinfo(
        "encode", "--tokenizer", "equal_info_ac:b=16,v=65536", "--input", fit_file, "--output", tmp_path / "x"
    )
    assert proc.returncode == 2 and "exactly one model source" in proc.stderr
    proc = eqinfo("codec-check", "--tokenizer", "gzip:v=256", "--input", fit_file, "--limit", "5")
    assert proc.returncode == 0 and last_json(proc.stdout)["padding_bits"] == 0
    for cmd in ("encode", "decode", "train-spm", "codec-check"):
        proc = eqinfo(cmd, "--help")
        assert proc.returncode == 0 and "--input" in proc.stdout, cmd
    assert "tokenizers" in eqinfo("bench", "--help").stdout


WIDTH_SPECS = [s for s in SPECS if s.startswith(("ac:", "static_ac:", "equal_info_ac:"))]


@pytest.mark.parametrize("spec", WIDTH_SPECS)
@given(docs=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4))
@settings(max_examples=25, deadline=None)
def test_one_coding_cut_into_either_token_size_is_that_vocabularys_own_coding(tokenizers, fit_file, spec, docs):
    tok = tokenizers[spec]
    widths = tok.encode_widths(docs, [8, 16])
    for bits, cut in zip((8, 16), widths, strict=True):
        own = parse_spec(str(Spec.parse(tok.spec).with_options(v=1 << bits))).encode_detailed(docs)
        for a, b in zip(cut, own, strict=True):
            assert np.array_equal(a.ids, b.ids) and a.ids.dtype == b.ids.dtype
            assert (a.coded_bits, a.padding_bits, a.windows, a.examples) == (
                b.coded_bits,
                b.padding_bits,
                b.windows,
                b.examples,
            )


def test_a_long_document_is_cut_per_example_at_either_size(tokenizers):
    """AC pads each example's stream to whole tokens: the cut must follow the examples."""
    tok = tokenizers["ac:v=256,model=uniform"]
    doc = bytes(range(256)) * 90  # 23,040 bytes: three examples
    eight, sixteen = tok.encode_widths([doc], [8, 16])
    direct = parse_spec("ac:v=65536,model=uniform").encode_detailed([doc])
    assert eight[0].examples == 3 and np.array_equal(sixteen[0].ids, direct[0].ids)
    assert parse_spec("ac:v=65536,model=uniform").decode(sixteen[0].ids) == doc
