"""The `eqinfo` command line, run as a real process on the real C4 sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from compressor.analysis.stability import SENTENCE


def eqinfo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compressor.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


CHECKS = [
    ("equal_info_ac", "order2", 16, 8),
    ("equal_info_ac", "order2", 16, 16),
    ("equal_info_ac", "order2", 24, 16),
    ("equal_info_ac", "unigram", 32, 8),
    ("equal_info_ac", "order2", 64, 16),
    ("equal_info_ac", "uniform", 128, 8),
    ("ac", "order2", 16, 16),
    ("ac", "unigram", 16, 8),  # the paper's StaticAC
    ("ac", "uniform", 16, 16),
]


@pytest.mark.parametrize(
    "method, model, bits, token_bits", CHECKS, ids=[f"{c[0]}-{c[1]}-b{c[2]}-t{c[3]}" for c in CHECKS]
)
def test_codec_check_on_c4_sample(c4_sample, method, model, bits, token_bits):
    proc = eqinfo(
        "codec-check",
        "--input",
        str(c4_sample),
        "--method",
        method,
        "--model",
        model,
        "--window-bits",
        str(bits),
        "--token-bits",
        str(token_bits),
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    s = last_json(proc.stdout)
    assert s["exact"] is True and s["mismatches"] == 0
    assert s["documents"] == 900 and s["raw_bytes"] == 2_021_896
    assert s["tokens"] * token_bits == s["coded_bits"] + s["padding_bits"]
    assert s["bytes_per_token"] == pytest.approx(s["raw_bytes"] / s["tokens"], rel=1e-3)
    for key in ("windows", "ideal_bits", "coded_bits"):
        assert key in s
    if method == "equal_info_ac":
        assert s["coded_bits"] == s["windows"] * bits
    else:
        assert s["coded_bits"] <= s["ideal_bits"] * 1.0001 + 2 * s["documents"]
    assert "every document round-trips" in proc.stdout


def test_codec_check_plain_text_with_separate_fit(tmp_path, c4_sample):
    text = tmp_path / "doc.txt"
    text.write_text("Plain text: one document per file, any bytes at all.\n" * 20)
    proc = eqinfo("codec-check", "--input", str(text), "--fit", str(c4_sample), "--window-bits", "32")
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["documents"] == 1


def test_codec_check_reports_bad_input_clearly(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{broken\n')
    proc = eqinfo("codec-check", "--input", str(bad))
    assert proc.returncode == 1
    assert "bad.jsonl:2: malformed JSON" in proc.stderr
    proc = eqinfo("codec-check", "--input", str(bad), "--window-bits", "20")
    assert proc.returncode == 2 and "20" in proc.stderr


def test_bench_coder_small():
    proc = eqinfo("bench", "coder", "--symbols", "20000", "--reference-symbols", "500", "--rounds", "3")
    assert proc.returncode == 0, proc.stderr
    r = last_json(proc.stdout)
    assert r["rounds"] == 3 and r["e2e_encode_vs_constriction"] > 0 and "medians of 3" in proc.stdout
    for key in (
        "int_round_trip",
        "e2e_round_trip",
        "constriction_round_trip",
        "reference_round_trip",
        "reference_stream_equal",
        "e2e_stream_equals_int",
        "overhead_ok",
    ):
        assert r[key] is True, key
    assert "constriction" in proc.stdout


def test_bench_windows_small(c4_sample):
    proc = eqinfo(
        "bench",
        "windows",
        "--input",
        str(c4_sample),
        "--fit",
        str(c4_sample),
        "--fit-limit",
        "60",
        "--skip",
        "860",
        "--window-bits",
        "16,32",
        "--read-back",
    )
    assert proc.returncode == 0, proc.stderr
    rows = last_json(proc.stdout)["results"]
    assert [r["window_bits"] for r in rows] == [16, 32]
    for r in rows:
        assert r["exact_decodes"] is True
        assert r["exact_cost_pct"] == pytest.approx(
            100 * (r["greedy_bytes_per_window"] / r["exact_bytes_per_window"] - 1), abs=0.01
        )
        assert r["greedy_windows_failing_pct"] == pytest.approx(
            r["greedy_windows_short_pct"] + r["greedy_windows_long_pct"], abs=0.002
        )
        assert 0 < r["greedy_windows_failing_pct"] <= 100  # greedy windows do not all read back


def test_help_explains_commands():
    proc = eqinfo("--help")
    assert proc.returncode == 0
    for cmd in ("codec-check", "bench", "train-m1", "encode", "compress", "decode-shards", "train-m2", "generate"):
        assert cmd in proc.stdout
    proc = eqinfo("codec-check", "--help")
    assert "--window-bits" in proc.stdout and "StaticAC" in proc.stdout


def test_analyze_stability_end_to_end(tmp_path, c4_sample):
    out = tmp_path / "stab"
    specs = ["bytes", "equal_info_ac:b=16,v=65536,model=order2,fit={fit}", "sentencepiece:model={spm}"]
    args = ["analyze", "stability", "--input", str(c4_sample), "--fit-docs", "300", "--words", "40", "--out", str(out)]
    for spec in specs:
        args += ["--tokenizer", spec]
    proc = eqinfo(*args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "stability.json").read_text())
    assert len(result["words"]) == 40 and result["sentence"] == SENTENCE
    rows = {r["method"]: r for r in result["methods"]}
    assert list(rows) == ["Bytes", "EqualInfoAC[b=16, v=65k]", "SentencePiece"]
    for r in rows.values():
        assert r["pairs"] == 40 * 39 // 2 == sum(r["histogram"].values())
        assert (out / r["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert r["reuse_documents"] == 20 and 0 <= r["reused_share"] <= 1
    # the prefix is all that differs: Bytes moves by at most the longer word
    assert max(map(int, rows["Bytes"]["histogram"])) <= max(map(len, result["words"]))
    assert "EqualInfoAC[b=16, v=65k]" in proc.stdout


def test_analyze_stability_with_too_few_documents_is_a_usage_error(tmp_path, c4_sample):
    proc = eqinfo("analyze", "stability", "--input", str(c4_sample), "--fit-docs", "895", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "hold 4 of at least 1024 bytes; the reuse figure takes 20" in proc.stderr
