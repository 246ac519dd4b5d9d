"""The C fuzz harness (compressor/coder/csrc/fuzz/fuzz_coder.c) on the plain C core, without Python.

`make fuzz-c` builds it with the extension's warnings as errors and runs it for a bounded number
of iterations from a fixed seed; here without sanitizers, so that it is quick (`make fuzz-c` and
`make asan` run it under AddressSanitizer + UBSan).  A failure prints the one-iteration command
that repeats it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = 3000  # about 3 s on one core
SEED = 100_000  # not make fuzz-c's, so that the two cover different inputs


def test_fuzz_harness_passes(tmp_path):
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "fuzz-c", "FUZZ_SANITIZE=", f"FUZZ_BIN={tmp_path}/fuzz_coder",
         f"FUZZ_ITERATIONS={ITERATIONS}", f"FUZZ_SEED={SEED}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{ITERATIONS} iterations from seed {SEED}: ok" in result.stdout


def test_every_vector_target_writes_the_same_stream():
    """The coder from floats built for each vector target this CPU runs (plain, AVX2, AVX-512,
    the extension's clones) writes one stream and decodes it back (tools/bench_targets.py)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench_targets.py"), "--rows", "20000", "--rounds", "1"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    res = json.loads(result.stdout.splitlines()[-1])
    assert res["same_stream"] and {"plain", "clones"} <= set(res["targets"])
