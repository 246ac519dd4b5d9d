"""The compression pipeline end to end: real Beam runners, real ArrayRecord files, real processes."""

from __future__ import annotations

import dataclasses
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
    two = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
    runs = {
        "in_memory": ["--share-coder", "process", "--", "--direct_running_mode", "in_memory"],
        "multi_processing": ["--share-coder", "process", "--", *two],
        "shared": ["--share-coder", "machine", "--", *two],  # one coder for both worker processes
    }
    procs = {}
    for mode, args in runs.items():
        procs[mode] = eqinfo(
            "compress",
            *("--input", files[0], "--input", str(files[1].parent / "b*.jsonl")),
            *("--output", out / mode / "eq16", "--tokenizer", spec),
            *("--seq-len", "64", "--shard-bytes", "5000", "--batch-bytes", "2000", "-q"),
            *args,
        )
    return out, spec, procs


def test_running_modes_and_coder_sharing_write_identical_shards_that_decode_exactly(m1_shards, c4_files, tmp_path):
    out, spec, procs = m1_shards
    for proc in procs.values():
        assert proc.returncode == 0, proc.stderr[-3000:]
    files, docs = c4_files
    a, b = shard_bytes(out / "in_memory" / "eq16"), shard_bytes(out / "multi_processing" / "eq16")
    assert a == b == shard_bytes(out / "shared" / "eq16")  # byte for byte, whichever process coded each batch
    coders = {mode: shardset.read_manifest(str(out / mode / "eq16"))["coder_processes"] for mode in procs}
    assert coders["shared"] == 1 and coders["in_memory"] == 1 and 1 <= coders["multi_processing"] <= 2
    m = shardset.read_manifest(str(out / "in_memory" / "eq16"))
    # Shards named by file and part; several parts of a file, several whole batches in a part.
    assert list(a) == [f"eq16-{s['file']:05d}-{s['part']:05d}.array_record" for s in m["shards"]]
    assert [s["part"] for s in m["shards"] if s["file"] == 0] == list(range(sum(s["file"] == 0 for s in m["shards"])))
    assert {s["file"] for s in m["shards"]} == {0, 1} and max(s["part"] for s in m["shards"]) > 0
    assert max(s["batches"] for s in m["shards"]) > 1
    assert not (out / "in_memory" / "eq16.parts").exists()
    assert 0 < m["max_held_bytes"] == max(m["held_bytes"].values()) and set(m["held_bytes"]) == {
        "read",
        "code",
        "pack",
        "write",
    }
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
    header = struct.Struct("<4sHBBIIIIIQI")  # compressor/shards/records.py's layout, version 2
    for i in range(len(source)):
        data = source[i]
        magic, version, id_bytes, _, seq_len, n_ids, file, batch, index, _, _ = header.unpack_from(data)
        assert (magic, version, id_bytes, seq_len) == (b"EQRC", 2, 1, 64)
        streams.setdefault(file, []).append(((batch, index), data[header.size : header.size + n_ids]))
    _, docs = c4_files
    tokenizer = parse_spec(spec)
    for file, texts in enumerate([docs[:14], docs[14:]]):
        got = b"".join(ids for _, ids in sorted(streams[file]))
        for batch in {b for (b, _), _ in streams[file]}:
            indices = sorted(i for (b, i), _ in streams[file] if b == batch)
            assert indices == list(range(len(indices)))
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
    config = Config([str(bad), str(plain), str(cut)], str(prefix), "gzip:v=65536", seq_len=32)
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
    config = Config([url("in/*.jsonl")], prefix, spec, seq_len=16, batch_bytes=3000, shard_bytes=6000)
    run(config, [])
    m = shardset.read_manifest(prefix)
    assert len(m["shards"]) > 1
    names = [f"-00000-{part:05d}.array_record" for part in range(len(m["shards"]))] + [
        ".manifest.json",
        ".rejected.jsonl",
    ]
    assert sorted(gcs.ls(url("out"))) == [f"corpus/out/eq{name}" for name in names]  # the parts are gone
    assert m["files"] == [url("in/a.jsonl")] and m["models"]["m1"]["path"] == url("m1/integer.safetensors")
    decoded = tmp_path / "docs.jsonl"
    assert decode_shards(prefix, str(decoded)).exact
    assert decoded_texts(decoded) == docs[:14]
    proc = eqinfo("decode-shards", "--input", prefix, "--output", url("back.jsonl"))  # a real process, gs:// out
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert gcs.cat(url("back.jsonl")) == decoded.read_bytes()


def test_a_killed_run_never_shows_a_partial_shard_and_a_rerun_completes_it(tmp_path, c4_sample):
    args = ["compress", "--input", c4_sample, "--tokenizer", "bytes", "--batch-bytes", "100000", "-q"]
    args += ["--shard-bytes", "500000"]
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
    assert not (prefix.parent / "bytes.parts").exists()


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
    first = Record.from_bytes(next(read_shard(str(out / "in_memory" / "eq16-00000-00000.array_record"))))
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


@pytest.fixture(scope="module")
def byte_shards(tmp_path_factory, c4_sample) -> tuple[Path, list[bytes]]:
    """Bytes shards of 120 real C4 documents in several shards of several batches."""
    docs = list(read_documents(c4_sample, limit=120))
    root = tmp_path_factory.mktemp("verify")
    source = write_jsonl(root / "docs.jsonl", docs)
    prefix = root / "shards" / "bytes"
    run(Config([str(source)], str(prefix), "bytes", seq_len=64, batch_bytes=20_000, shard_bytes=60_000), [])
    return prefix, docs


def test_verify_checks_every_document_across_workers_whatever_the_ranges(byte_shards):
    prefix, docs = byte_shards
    m = shardset.read_manifest(str(prefix))
    assert len(m["shards"]) > 1 and max(s["batches"] for s in m["shards"]) > 1
    beam_args = ("--", "--direct_num_workers", "2", "--direct_running_mode", "multi_processing")
    for range_records in ("4096", "7"):  # 7: ranges begin inside batches and end inside others
        proc = eqinfo("verify", prefix, "--range-records", range_records, "-q", *beam_args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(Path(shardset.verify_path(str(prefix))).read_text())
        assert result["exact"] and result["verified"] == result["documents"] == len(docs)
        assert result["raw_bytes"] == sum(map(len, docs)) and result["failures"] == []
        assert json.loads(proc.stdout.strip().splitlines()[-1])["verified"] == len(docs)


def test_verify_names_every_document_of_a_corrupted_record_and_does_not_stop(byte_shards, tmp_path):
    from array_record.python.array_record_module import ArrayRecordWriter

    prefix, docs = byte_shards
    copy = tmp_path / "bytes"
    for path in prefix.parent.glob("bytes[-.]*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    m = json.loads(Path(shardset.manifest_path(str(prefix))).read_text())
    for shard in m["shards"]:  # the manifest of the copy names the copy's shards
        shard["path"] = str(tmp_path / Path(shard["path"]).name)
    Path(shardset.manifest_path(str(copy))).write_text(json.dumps(m))
    first, second = (m["shards"][i]["path"] for i in (0, 1))
    records = list(read_shard(first))
    damaged = Record.from_bytes(records[5])
    ids = damaged.ids.copy()
    ids[len(ids) // 2] ^= 1  # one id of one document changed: its checksum fails
    records[5] = dataclasses.replace(damaged, ids=ids).to_bytes(1)
    writer = ArrayRecordWriter(first, "group_size:1,zstd:3")
    for data in records:
        writer.write(data)
    writer.close()
    records = list(read_shard(second))
    records[0] = b"EQRC" + b"\xff" * 20  # an unreadable record: its batch cannot be put together
    writer = ArrayRecordWriter(second, "group_size:1,zstd:3")
    for data in records:
        writer.write(data)
    writer.close()
    proc = eqinfo("verify", copy, "-q")
    assert proc.returncode == 1
    result = json.loads(Path(shardset.verify_path(str(copy))).read_text())
    assert not result["exact"] and result["failed"] == 1 and result["problems"] >= 2
    spans = np.cumsum([0] + [len(r.docs) for r in map(Record.from_bytes, list(read_shard(first))[:6])])
    bad_doc = next(f for f in result["failures"] if f["line"] is not None)
    assert bad_doc["file"] == m["files"][0] and bad_doc["records"].startswith("batch 0 records")
    assert "checksum" in bad_doc["error"] and spans[5] < bad_doc["line"] <= spans[6] + 1
    assert any("unreadable" in f["error"] for f in result["failures"])
    assert any(f["line"] is None and "expected record 0" in f["error"] for f in result["failures"])
    # Everything outside the damaged record and the broken batch still verified.
    assert result["verified"] + 1 + result["expected_documents"] - result["documents"] == len(docs)
    assert result["verified"] > len(docs) // 2
    assert "fails:" in proc.stderr


def test_decode_and_verify_share_one_decoding_path_and_agree(byte_shards, tmp_path):
    prefix, docs = byte_shards
    summary = decode_shards(str(prefix), str(tmp_path / "docs.jsonl"))
    assert summary.exact and decoded_texts(tmp_path / "docs.jsonl") == docs


def test_typos_in_options_are_one_line_errors_before_anything_runs(tmp_path, c4_sample, byte_shards):
    prefix, _ = byte_shards
    base = ["compress", "--input", c4_sample, "--tokenizer", "bytes", "--output", tmp_path / "x"]
    cases = [
        ([*base[:1], "--num-shard", "2", *base[1:]], "No such option '--num-shard'"),  # click 8.5's wording
        ([*base, "--", "--direct_num_worker", "2"], "did you mean --direct_num_workers?"),
        ([*base, "--", "--runner", "DirectRunnr"], "did you mean DirectRunner?"),
        (["verify", prefix, "--", "--direct_num_worker", "2"], "did you mean --direct_num_workers?"),
        (["verify", tmp_path / "absent"], "manifest"),
    ]
    for args, message in cases:
        proc = eqinfo(*args)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.manifest.json").exists()


def test_zstd_inputs_and_a_truncated_zstd_file_go_to_shards_and_dead_letters(tmp_path):
    import zstandard

    cctx = zstandard.ZstdCompressor(write_checksum=True)  # as the zstd tool writes
    good_docs = [b"doc %d" % i for i in range(300)]
    good = tmp_path / "good.jsonl.zst"
    good.write_bytes(cctx.compress(b"".join(b'{"text": "%s"}\n' % d for d in good_docs)))
    cut = tmp_path / "cut.json.zst"
    cut.write_bytes(cctx.compress(b"".join(b'{"text": "line %d"}\n' % i for i in range(20_000)))[:-50])
    prefix = tmp_path / "out" / "zst"
    run(Config([str(good), str(cut)], str(prefix), "bytes", seq_len=32), ["--direct_running_mode", "in_memory"])
    m = shardset.read_manifest(str(prefix))
    assert m["rejected"] == {"unreadable": 1} and m["counts"]["rejected"] == 1
    [letter] = [json.loads(line) for line in Path(shardset.rejected_path(str(prefix))).read_text().splitlines()]
    assert letter["file"] == str(cut) and letter["reason"] == "unreadable" and "truncated" in letter["error"]
    decoded = tmp_path / "docs.jsonl"
    assert decode_shards(str(prefix), str(decoded)).exact
    texts = decoded_texts(decoded)
    kept_from_cut = texts[len(good_docs) :]
    assert texts[: len(good_docs)] == good_docs
    assert len(kept_from_cut) > 10_000 and kept_from_cut == [b"line %d" % i for i in range(len(kept_from_cut))]


def test_also_output_cuts_the_same_bits_into_the_other_vocabulary(tmp_path, c4_sample):
    docs = list(read_documents(c4_sample, limit=40))
    source = write_jsonl(tmp_path / "docs.jsonl", docs)
    spec = "equal_info_ac:b=24,v=256,model=uniform"
    both = tmp_path / "both"
    config = Config([str(source)], str(both / "v256"), spec, seq_len=48, batch_bytes=20_000)
    config.also = [(65536, str(both / "v65k"))]
    run(config, ["--direct_running_mode", "in_memory"])
    alone = tmp_path / "alone"
    for name, vocab in (("v256", 256), ("v65k", 65536)):
        one = Config(
            [str(source)], str(alone / name), spec.replace("v=256", f"v={vocab}"), seq_len=48, batch_bytes=20_000
        )
        run(one, ["--direct_running_mode", "in_memory"])
        assert shard_bytes(both / name) == shard_bytes(alone / name)  # byte for byte, as if coded on its own
        m = shardset.read_manifest(str(both / name))
        assert m["coded_once_for"] == [str(both / "v256"), str(both / "v65k")] and m["vocab_size"] == vocab
        decoded = tmp_path / f"{name}.jsonl"
        assert decode_shards(str(both / name), str(decoded)).exact and decoded_texts(decoded) == docs
    proc = eqinfo(
        "compress",
        "--input",
        source,
        "--output",
        tmp_path / "x",
        "--tokenizer",
        "bytes",
        "--also-output",
        f"65536={tmp_path / 'y'}",
    )
    assert proc.returncode == 2 and "does not code a bitstream" in proc.stderr
    proc = eqinfo(
        "compress", "--input", source, "--output", tmp_path / "x", "--tokenizer", spec, "--also-output", "65536"
    )
    assert proc.returncode == 2 and "is not V=PREFIX" in proc.stderr
