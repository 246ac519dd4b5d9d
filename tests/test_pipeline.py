"""The compression pipeline end to end: real Beam runners, real ArrayRecord files, real processes."""

from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import url

from compressor.io.corpus import read_documents
from compressor.shards import shardset
from compressor.shards.records import Record
from compressor.shards.shardset import read_shard
from compressor.tokenizers import parse_spec
from pipelines import bench
from pipelines.compress import run
from pipelines.config import Config
from pipelines.decode import decode_shards


def eqinfo(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compressor.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def write_jsonl(path: Path, texts: list[bytes]) -> Path:
    path.write_text("".join(json.dumps({"text": t.decode()}) + "\n" for t in texts))
    return path


def shard_bytes(prefix: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(prefix.parent.glob(f"{prefix.name}-*.array_record"))}


def decoded_texts(path: Path) -> list[bytes]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert all("text" in line for line in lines), [line for line in lines if "text" not in line][:3]
    return [line["text"].encode() for line in lines]


@pytest.fixture(scope="module")
def c4_files(tmp_path_factory, c4_sample) -> tuple[list[Path], list[bytes]]:
    """Two input files of short real C4 documents (the tiny M1 codes them in seconds)."""
    docs = [d for d in read_documents(c4_sample, limit=200) if len(d) < 1500][:24]
    root = tmp_path_factory.mktemp("c4")
    files = [write_jsonl(root / "a.jsonl", docs[:14]), write_jsonl(root / "b.jsonl", docs[14:])]
    return files, docs


@pytest.fixture(scope="module")
def m1_shards(tmp_path_factory, tiny_m1, c4_files):
    """The same input and Equal-Info spec through both DirectRunner modes, as `eqinfo compress` processes."""
    files, _ = c4_files
    spec = f"equal_info_ac:b=16,v=256,m1={tiny_m1}"
    out = tmp_path_factory.mktemp("shards")
    runs = {
        "in_memory": ["--direct_running_mode", "in_memory"],
        "multi_processing": ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
    }
    procs = {}
    for mode, beam_args in runs.items():
        procs[mode] = eqinfo(
            "compress",
            *("--input", files[0], "--input", str(files[1].parent / "b*.jsonl")),
            *("--output", out / mode / "eq16", "--tokenizer", spec),
            *("--seq-len", "64", "--num-shards", "3", "--batch-bytes", "4000", "-q", "--"),
            *beam_args,
        )
    return out, spec, procs


def test_both_running_modes_write_identical_shards_that_decode_exactly(m1_shards, c4_files, tmp_path):
    out, spec, procs = m1_shards
    for proc in procs.values():
        assert proc.returncode == 0, proc.stderr[-3000:]
    files, docs = c4_files
    a, b = shard_bytes(out / "in_memory" / "eq16"), shard_bytes(out / "multi_processing" / "eq16")
    assert list(a) == [f"eq16-{i:05d}-of-00003.array_record" for i in range(3)]
    assert a == b  # byte for byte, whichever process and bundle coded each batch
    m = shardset.read_manifest(str(out / "in_memory" / "eq16"))
    summary = json.loads(procs["in_memory"].stdout.strip().splitlines()[-1])
    assert m["counts"]["documents"] == summary["documents"] == len(docs)
    assert m["counts"]["raw_bytes"] == sum(map(len, docs)) and m["rejected"] == {}
    assert m["files"] == [str(f) for f in files] and m["tokenizer"] == spec + ",p=14"
    assert m["models"]["m1"]["sha256"] and m["counts"]["windows"] * 16 == m["counts"]["coded_bits"]
    assert m["counts"]["tokens"] == 2 * m["counts"]["windows"]  # b=16 at 8-bit tokens
    assert sum(s["records"] for s in m["shards"]) == m["counts"]["records"]
    decoded = tmp_path / "docs.jsonl"
    summary = decode_shards(str(out / "multi_processing" / "eq16"), str(decoded))
    assert summary.exact and summary.documents == len(docs)
    assert decoded_texts(decoded) == docs


def test_shards_read_with_grain_alone_hold_each_files_ids_in_order(m1_shards, c4_files):
    """No project code reads the shards: Grain's ArrayRecord source and the documented layout."""
    import grain

    out, spec, _ = m1_shards
    paths = sorted(str(p) for p in (out / "in_memory").glob("eq16-*.array_record"))
    source = grain.sources.ArrayRecordDataSource(paths)
    streams: dict[int, list[tuple[int, bytes]]] = {}
    header = struct.Struct("<4sHBBIIIQQI")  # compressor/shards/records.py's layout, version 1
    for i in range(len(source)):
        data = source[i]
        magic, version, id_bytes, _, seq_len, n_ids, file, index, _, _ = header.unpack_from(data)
        assert (magic, version, id_bytes, seq_len) == (b"EQRC", 1, 1, 64)
        streams.setdefault(file, []).append((index, data[header.size : header.size + n_ids]))
    _, docs = c4_files
    tokenizer = parse_spec(spec)
    for file, texts in enumerate([docs[:14], docs[14:]]):
        got = b"".join(ids for _, ids in sorted(streams[file]))
        assert sorted(i for i, _ in streams[file]) == list(range(len(streams[file])))
        assert got == np.concatenate(tokenizer.encode_batch(texts)).astype(np.uint8).tobytes()


BAD_LINES = [
    (b'{"text": "good one"}', None),
    (b"{broken", "malformed_json"),
    (b'{"url": "no text here"}', "missing_text"),
    (b'{"text": 5}', "text_not_string"),
    (b'{"text": "bad \xff\xfe bytes"}', "invalid_utf8"),
    (b'{"text": ""}', "empty_text"),
    (b'{"text": "lone \\ud800 surrogate"}', "invalid_unicode"),
    (b'{"text": "good two", "url": "x"}', None),
    (b"", None),  # a blank line is not a document
    (b"[1, 2]", "missing_text"),
]


def test_bad_input_goes_to_dead_letters_and_every_good_document_to_the_shards(tmp_path, c4_sample):
    long_doc = b"".join(read_documents(c4_sample, limit=30))[:25_000]  # three examples
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(
        b"\n".join(line for line, _ in BAD_LINES) + b"\n" + json.dumps({"text": long_doc.decode()}).encode()
    )
    plain = tmp_path / "latin1.txt"
    plain.write_bytes("caf\xe9".encode("latin-1"))
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(b"".join(b'{"text": "line %d"}\n' % i for i in range(4000)))[:3000])
    prefix = tmp_path / "out" / "gz"
    config = Config([str(bad), str(plain), str(cut)], str(prefix), "gzip:v=65536", seq_len=32, num_shards=2)
    result = run(config, ["--direct_running_mode", "in_memory"])
    m = shardset.read_manifest(str(prefix))
    expected = {"invalid_unicode": 1, "invalid_utf8": 2, "malformed_json": 1, "missing_text": 2}
    expected.update(empty_text=1, text_not_string=1, unreadable=1)
    assert m["rejected"] == expected and m["counts"]["rejected"] == 9
    letters = [json.loads(line) for line in Path(shardset.rejected_path(str(prefix))).read_text().splitlines()]
    assert [(r["file"], r["line"], r["reason"]) for r in letters][:8] == [
        (str(bad), i + 1, reason) for i, (_, reason) in enumerate(BAD_LINES) if reason
    ] + [(str(plain), 1, "invalid_utf8")]
    assert letters[-1]["file"] == str(cut) and letters[-1]["reason"] == "unreadable"
    decoded = tmp_path / "docs.jsonl"
    assert decode_shards(str(prefix), str(decoded)).exact
    texts = decoded_texts(decoded)
    kept_from_cut = texts[3:]
    assert texts[:3] == [b"good one", b"good two", long_doc]
    assert kept_from_cut and kept_from_cut == [b"line %d" % i for i in range(len(kept_from_cut))]
    assert m["counts"]["examples"] == len(texts) + 2  # the long document is three examples
    # The same counts are Beam metrics.
    metrics = {r.key.metric.name: r.committed for r in result.metrics().query()["counters"]}
    for name in ("documents", "examples", "raw_bytes", "tokens", "records", "shards"):
        assert metrics[name] == m["counts"][name], name
    assert metrics["rejected_missing_text"] == 2


def test_gs_inputs_models_and_outputs(gcs, tiny_m1, c4_files, tmp_path):
    files, docs = c4_files
    gcs.pipe(url("in/a.jsonl"), files[0].read_bytes())
    gcs.pipe(url("m1/integer.safetensors"), (tiny_m1 / "integer.safetensors").read_bytes())
    prefix = url("out/eq")
    spec = f"equal_info_ac:b=32,v=65536,m1={url('m1')}"
    config = Config([url("in/*.jsonl")], prefix, spec, seq_len=16, num_shards=2)
    run(config, [])
    names = ("-00000-of-00002.array_record", "-00001-of-00002.array_record", ".manifest.json", ".rejected.jsonl")
    assert sorted(gcs.ls(url("out"))) == [f"corpus/out/eq{name}" for name in names]
    m = shardset.read_manifest(prefix)
    assert m["files"] == [url("in/a.jsonl")] and m["models"]["m1"]["path"] == url("m1/integer.safetensors")
    decoded = tmp_path / "docs.jsonl"
    assert decode_shards(prefix, str(decoded)).exact
    assert decoded_texts(decoded) == docs[:14]
    proc = eqinfo("decode-shards", "--input", prefix, "--output", url("back.jsonl"))  # a real process, gs:// out
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert gcs.cat(url("back.jsonl")) == decoded.read_bytes()


def test_a_killed_run_never_shows_a_partial_shard_and_a_rerun_completes_it(tmp_path, c4_sample):
    args = ["compress", "--input", c4_sample, "--tokenizer", "bytes", "--num-shards", "4", "-q"]
    reference = tmp_path / "ref" / "bytes"
    assert eqinfo(*args, "--output", reference).returncode == 0
    prefix = tmp_path / "killed" / "bytes"
    proc = subprocess.Popen(
        [sys.executable, "-m", "compressor.cli", *map(str, args), "--output", str(prefix)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while not list(prefix.parent.glob(".bytes-*.tmp-*")):  # a shard is being written
            assert proc.poll() is None, "the run ended before it was seen writing a shard"
            assert time.monotonic() < deadline
            time.sleep(0.001)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    reference_shards = shard_bytes(reference)
    for name, data in shard_bytes(prefix).items():  # whatever is visible is complete
        assert data == reference_shards[name]
    assert not Path(shardset.manifest_path(str(prefix))).exists()
    assert eqinfo(*args, "--output", prefix).returncode == 0
    assert shard_bytes(prefix) == reference_shards
    assert not list(prefix.parent.glob(".bytes-*")), "the rerun removes what the killed run left"


def test_problems_are_reported_before_any_worker_starts(tmp_path, c4_sample, tiny_m1):
    out = tmp_path / "never"
    cases = [
        (["--tokenizer", "equal_info_ac:b=20,v=256,model=uniform"], "b=20 must be one of"),
        (["--tokenizer", f"equal_info_ac:b=16,v=256,m1={tmp_path / 'absent'}"], "integer.safetensors missing"),
        (["--tokenizer", "bytes", "--input", str(tmp_path / "nothing-*.jsonl")], "matches no file"),
        (["--tokenizer", f"equal_info_ac:b=128,v=256,m1={tiny_m1}", "--seq-len", "8"], "cannot hold a whole unit"),
    ]
    for extra, message in cases:
        args = ["compress", "--output", out / "x", *extra]
        proc = eqinfo(*args) if "--input" in extra else eqinfo(*args, "--input", c4_sample)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert not out.exists()


def test_inspect_shows_the_manifest_and_records_as_text(m1_shards):
    out, _, _ = m1_shards
    proc = eqinfo("inspect", out / "in_memory" / "eq16", "--records", "2")
    assert proc.returncode == 0, proc.stderr
    assert "equal_info_ac:b=16" in proc.stdout and proc.stdout.count("\nrecord ") == 2
    first = Record.from_bytes(next(read_shard(str(out / "in_memory" / "eq16-00000-of-00003.array_record"))))
    assert f"ids: {first.ids[:24].tolist()}" in proc.stdout


def test_bench_pipeline_reports_every_run_and_checks_the_shards(c4_sample):
    proc = eqinfo("bench", "pipeline", "--input", c4_sample, "--tokenizer", "gzip:v=256", "--limit", "20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["run"] for r in result["runs"]] == ["in-process engine", *bench.RUNS]
    assert result["exact"] is True and result["documents"] == 20 and result["two_worker_speedup"] > 0


def test_bench_shards_reports_each_method_through_the_pipeline(tmp_path, c4_sample):
    docs = write_jsonl(tmp_path / "docs.jsonl", list(read_documents(c4_sample, limit=30)))
    proc = eqinfo("bench", "shards", "--input", docs, "--fit-docs", "20", "--spec", "bytes", "--spec", "gzip:v=256")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["tokenizer"] for r in result["results"]] == ["bytes", "gzip:v=256"]
    assert result["results"][0]["bytes_per_token"] == 1.0 and all(r["exact"] for r in result["results"])
