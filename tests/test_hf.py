"""Every spec as a Hugging Face tokenizer (compressor/tokenizers/hf.py), with the real `transformers`."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.io.corpus import read_documents
from compressor.tokenizers.hf import EqinfoTokenizer
from compressor.tokenizers.spm import train_sentencepiece

TEXTS = ["", "a", "Hello, world!", "<pad> is text here, not PAD", "é 😀 \u2581 \x00 tabs\tand\nlines  " * 5]
# {fit}: a small C4 file; {spm}: SentencePiece trained on C4; {m1}: the tiny M1 of conftest.py.
SPECS = [
    "bytes",
    "gzip:v=256",
    "gzip:v=65536",
    "sentencepiece:model={spm}",
    "ac:v=256,model=uniform",
    "equal_info_ac:b=16,v=65536,model=order2,fit={fit}",
]


@pytest.fixture(scope="module")
def c4_docs(c4_sample) -> list[str]:
    return [d.decode() for d in read_documents(c4_sample, 60)]


@pytest.fixture(scope="module")
def paths(tmp_path_factory, c4_docs) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("hf")
    (out / "fit.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in c4_docs[:30]))
    spm = train_sentencepiece([d.encode() for d in c4_docs[:40]], out / "spm", 500, hard_vocab_limit=False)
    return {"fit": out / "fit.jsonl", "spm": spm}


@functools.cache
def hf(spec: str) -> EqinfoTokenizer:
    return EqinfoTokenizer(spec)


def no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("spec", SPECS)
def test_documents_round_trip_as_the_spec_codes_them(spec, paths, c4_docs):
    tok = EqinfoTokenizer(spec.format(**paths))
    texts = [*TEXTS, *c4_docs[50:53]]
    ids = tok(texts)["input_ids"]
    assert ids == [a.tolist() for a in tok.eqinfo.encode_batch(texts)]
    assert no_warnings(tok.batch_decode, ids) == texts
    assert [no_warnings(tok.decode, i) for i in ids] == texts
    assert tok(texts[3])["input_ids"] == tok.encode(texts[3]) == tok.convert_tokens_to_ids(tok.tokenize(texts[3]))
    assert tok.vocab_size == tok.eqinfo.vocab_size and tok.pad_token_id == tok.vocab_size
    assert len(tok) == len(tok.get_vocab()) == tok.vocab_size + 1  # M2's vocabulary: the spec's ids and PAD
    with pytest.raises(ValueError, match="whole documents"):
        tok("a", "pair")


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_batches_are_tensors_of_pad_ids_that_decode_back(side):
    tok = EqinfoTokenizer("gzip:v=65536", padding_side=side)
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    lengths = [len(tok.encode(t)) for t in TEXTS]
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (len(TEXTS), max(lengths))
    assert batch["input_ids"].dtype == torch.int64
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == 65536).all()
    assert (batch["input_ids"][batch["attention_mask"] == 1] < 65536).all()
    first = batch["attention_mask"][:, 0 if side == "right" else -1]
    assert first.tolist() == [int(n > 0) for n in lengths]
    assert no_warnings(tok.batch_decode, batch["input_ids"]) == TEXTS
    assert no_warnings(tok.batch_decode, batch["input_ids"], skip_special_tokens=True) == TEXTS


def test_undecodable_ids_give_the_decodable_prefix_with_a_warning(paths):
    tok = hf("bytes")
    assert no_warnings(tok.decode, [0xFF, 104]) == "\ufffdh"  # decodable, but not UTF-8
    with pytest.warns(UserWarning, match=r"300 is outside 0\.\.255.*first 2 of 4 ids"):
        assert tok.decode([104, 105, 300, 5]) == "hi"
    coded = EqinfoTokenizer("equal_info_ac:b=16,v=65536,model=order2,fit={fit}".format(**paths))
    text = "The quick brown fox jumps over the lazy dog. " * 4
    ids = coded(["ok", text])["input_ids"]
    with pytest.warns(UserWarning, match="document 1: .*EOS") as caught:
        ok, cut = coded.batch_decode([ids[0], ids[1][:-2]])
    assert len(caught) == 1 and ok == "ok"
    assert 0 < len(cut) < len(text) and text.startswith(cut)


def test_save_pretrained_stores_the_spec_and_references_m1(tmp_path, monkeypatch, tiny_m1):
    monkeypatch.chdir(tiny_m1.parent)
    spec = f"equal_info_ac:b=16,v=256,m1={tiny_m1.name},p=14"  # relative: kept as written
    tok = EqinfoTokenizer(spec)
    tok.save_pretrained(tmp_path / "tok")
    files = {p.name: p.stat().st_size for p in (tmp_path / "tok").iterdir()}
    assert not [n for n in files if n.endswith((".safetensors", ".pt", ".bin"))] and max(files.values()) < 4096
    assert json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())["spec"] == spec
    loaded = EqinfoTokenizer.from_pretrained(tmp_path / "tok")
    text = "Saved and loaded, the same ids."
    assert loaded.eqinfo.spec == spec and loaded(text) == tok(text) and loaded.decode(tok.encode(text)) == text
    assert (loaded.pad_token_id, len(loaded)) == (256, 257)
    absolute = EqinfoTokenizer.from_pretrained(tmp_path / "tok", spec=spec.replace(tiny_m1.name, str(tiny_m1)))
    assert absolute.encode(text) == tok.encode(text)
    with pytest.raises(ValueError, match="PAD is id 256, not 65536"):  # the saved PAD does not fit another v
        EqinfoTokenizer.from_pretrained(tmp_path / "tok", spec="gzip:v=65536")


@pytest.mark.parametrize("spec", ["bytes", "gzip:v=256", "gzip:v=65536"])
@settings(max_examples=30, deadline=None)
@given(texts=st.lists(st.text(max_size=200), min_size=1, max_size=4))
def test_any_text_round_trips(spec, texts):
    tok = hf(spec)
    assert [tok.decode(tok(t)["input_ids"]) for t in texts] == texts
    assert tok.batch_decode(tok(texts, padding=True, return_tensors="pt")["input_ids"]) == texts


def test_transformers_stays_optional():
    """`compressor.tokenizers` never imports transformers; without it, the hf module says what to install."""
    code = (
        "import sys, compressor.tokenizers, compressor.cli\n"
        "assert 'transformers' not in sys.modules\n"
        "sys.modules['transformers'] = None\n"
        "try:\n    import compressor.tokenizers.hf\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "pip install eqinfo[hf]" in out.stdout
