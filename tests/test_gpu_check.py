"""`make gpu-check`'s script: its CPU smoke mode runs every check for real (tiny models, a few
lanes), so the script a GPU session runs is the one the tests keep working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


def gpu_check(*args, **env) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ, **env})


def test_the_smoke_mode_runs_and_passes_every_check(tmp_path, c4_sample):
    proc = gpu_check("--out", tmp_path, "--smoke", "--documents", "40", EQINFO_C4_SAMPLE=str(c4_sample))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result == json.loads(proc.stdout.splitlines()[-1])
    assert result["failed"] == [] and list(result["checks"]) == ["m1", "m1_coding", "compress", "m2", "resume"]
    assert result["text"] == str(c4_sample)
    coding = result["checks"]["m1_coding"]["by_lanes"]
    assert [(r["lanes"], r["cuda_graphs"]) for r in coding] == [(2, False), (4, False), (8, False)]
    assert all(r["exact"] and r["encode_bytes_s"] > 0 for r in coding)
    assert result["checks"]["compress"]["decoded_on_cpu"]["decoded"] == 40
    [run] = result["checks"]["m2"]["runs"]
    assert run["tokens_per_second"] > 0 and 0 < run["mfu"] < 1 and run["peak_memory_gib"] > 0
    assert result["checks"]["resume"]["max_abs_loss_difference"] == 0


def test_without_a_gpu_the_full_check_says_so_and_runs_nothing(tmp_path):
    proc = gpu_check("--out", tmp_path / "out", CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 1 and "no GPU here" in proc.stderr and "--smoke" in proc.stderr
    assert not (tmp_path / "out").exists()
