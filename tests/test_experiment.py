"""`eqinfo experiment` end to end at the tiny budget: real Beam runs, real torchrun processes,
a report with the paper's table and findings, and stages that are kept when run again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compressor.io.corpus import read_documents
from compressor.io.demo_text import C4_SAMPLE, default_documents
from compressor.shards.shardset import read_manifest
from experiment.budgets import BUDGETS
from experiment.run import Method
from m2_train.plot import read_metrics
from pipelines.decode import decode_shards


def eqinfo(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compressor.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def short_c4(tmp_path_factory, c4_sample) -> Path:
    """Real C4 documents short enough for the tiny M1 to code and decode in seconds."""
    docs = [d for d in read_documents(c4_sample, limit=300) if len(d) < 1200][:30]
    path = tmp_path_factory.mktemp("c4") / "short.jsonl"
    path.write_text("".join(json.dumps({"text": d.decode()}) + "\n" for d in docs))
    return path


LADDER = ("--seeds", "2", "--m2-sizes", "tiny,400k")  # the test budget with 2 seeds and 2 sizes


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, short_c4):
    out = tmp_path_factory.mktemp("exp")
    proc = eqinfo("experiment", "--budget", "tiny", "--input", short_c4, "--out", out, *LADDER)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def test_report_holds_every_method_and_the_findings(tiny_run):
    out, proc = tiny_run
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    labels = [Method(t).label for t in BUDGETS["tiny"].methods]
    assert [m["method"] for m in summary["methods"]] == labels
    report = (out / "report.md").read_text()
    assert "| method | bytes/id | M2 bits/byte | uniform | gain |" in report
    for label in labels:
        assert f"| {label} |" in report and f"- **{label}** (M2 saw" in report
    assert "(1) M2 over plain AC scores no better than its uniform baseline**:" in report
    assert "(2) M2 over EqualInfoAC[b=16] beats its uniform baseline**:" in report
    for png in ("bits_per_byte_vs_flops.png", "loss_curves.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "## Token stability (the paper's protocol)" in report
    for template in BUDGETS["tiny"].methods:
        assert (out / "stability" / f"stability-{Method(template).slug}.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Accuracy by position in the window" in report and "- **EqualInfoAC[b=16, v=256]** (" in report
    assert (out / "position_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    bytes_row = next(m for m in summary["methods"] if m["method"] == "Bytes")
    assert bytes_row["uniform_bits_per_byte"] == pytest.approx(8.0) and bytes_row["bytes_per_token"] == 1.0
    for m in summary["methods"]:  # two M2s each: other weights and data order, so other figures
        seeds = m["seeds_bits_per_byte"]
        assert len(seeds) == 2 and seeds[0] != seeds[1] and m["bits_per_byte"] == pytest.approx(sum(seeds) / 2)
    assert "2 seed(s) per method" in report and "mean - 2 SE > 0" in report
    verdicts = re.findall(r"^- \*\*\(\d\w?\) [^*]+\*\*: ([a-z ]+)\.", report, re.M)
    assert len(verdicts) == 4 and set(verdicts) <= {"reproduced", "not reproduced", "undecided at this scale"}
    assert "(5) EqualInfoAC[b=16]'s gain grows with M2's size while AC's stays at uniform**:" in report
    assert "| method | tiny (0.10m) | 400k (0.45m) |" in report
    assert (out / "ladder.png").read_bytes()[:4] == b"\x89PNG"
    for m in summary["methods"]:  # the same ids at both sizes, another model
        assert list(m["sizes"]) == ["tiny", "400k"] and m["sizes"]["400k"] == m["bits_per_byte"]
        assert m["sizes"]["tiny"] != m["sizes"]["400k"]


def test_accuracy_by_window_position_is_recorded_at_every_evaluation(tiny_run):
    out, _ = tiny_run
    for template in BUDGETS["tiny"].methods:
        rows = read_metrics(str(out / "m2" / Method(template).slug / "400k" / "seed-1"))
        evals = [r for r in rows if "eval_bits_per_byte" in r]
        positions = [r["eval_position_accuracy"] for r in evals if "eval_position_accuracy" in r]
        if template.startswith("equal_info_ac:b=16,v=256"):  # two 8-bit ids a 16-bit window
            assert len(positions) == len(evals) > 4
            assert all(len(p) == 2 and all(0 <= a <= 1 for a in p) for p in positions)
        else:
            assert not positions


def test_every_methods_shards_decode_back_to_the_held_out_text(tiny_run, tmp_path):
    out, _ = tiny_run
    held = list(read_documents(out / "data" / "held-out.jsonl"))
    for template in BUDGETS["tiny"].methods:
        slug = Method(template).slug
        decoded = tmp_path / f"{slug}.jsonl"
        summary = decode_shards(str(out / "shards" / slug / "held-out"), str(decoded))
        assert summary.exact, (slug, summary.failures[:3])
        assert [json.loads(line)["text"].encode() for line in decoded.read_text().splitlines()] == held


def test_one_spec_at_two_vocabularies_is_coded_once_and_cut_for_each(tiny_run):
    out, proc = tiny_run
    pair = [Method(t) for t in BUDGETS["tiny"].methods if t.startswith("equal_info_ac:b=16")]
    assert len(pair) == 2
    for part in ("train", "held-out"):
        prefixes = [str(out / "shards" / m.slug / part) for m in pair]
        for prefix in prefixes:
            assert read_manifest(prefix)["coded_once_for"] == prefixes
        assert proc.stdout.count(f"compress {part} for {pair[0].label} and {pair[1].label}:") == 1
    tokens = [read_manifest(str(out / "shards" / m.slug / "train"))["counts"]["tokens"] for m in pair]
    assert tokens[0] == 2 * tokens[1]  # b=16: two 8-bit tokens or one 16-bit token a window


def test_a_second_run_keeps_every_stage(tiny_run, short_c4):
    out, _ = tiny_run
    proc = eqinfo("experiment", "--budget", "tiny", "--input", short_c4, "--out", out, *LADDER)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kept = proc.stdout.count("done before, kept")
    # split, M1, stability; per method: compress x2, M2 and its evaluation for 2 sizes x 2 seeds, a sample
    assert kept == 3 + 11 * len(BUDGETS["tiny"].methods)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [("tiny,huge", "unknown M2 size(s) huge"), ("400k,tiny", "smallest first"), ("tiny,tiny", "each size once")],
)
def test_bad_m2_sizes_are_usage_errors(tmp_path, sizes, message):
    proc = eqinfo("experiment", "--budget", "tiny", "--out", tmp_path, "--m2-sizes", sizes)
    assert proc.returncode == 2 and message in proc.stderr


def test_the_default_text_is_there_without_shared_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EQINFO_C4_SAMPLE", str(tmp_path / "absent.json.gz"))
    docs, source = default_documents(10**6)
    assert "pydoc_data.topics" in source and len(docs) > 50 and sum(map(len, docs)) > 400_000
    assert Path(__file__).resolve().parents[1].joinpath("Makefile").read_text().count("eqinfo demo") == 1


def test_the_default_text_is_the_c4_sample_beside_the_checkout(monkeypatch):
    monkeypatch.delenv("EQINFO_C4_SAMPLE", raising=False)
    beside = Path(__file__).resolve().parents[2] / "shared/data/c4/c4-train.00000-of-01024.first900.json.gz"
    assert beside == C4_SAMPLE
    if beside.is_file():  # as in CI and on developers' machines
        assert default_documents(3)[1] == str(beside)
