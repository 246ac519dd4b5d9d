"""The coder from float32 probabilities, built for each vector target this CPU runs: same stream?
How fast?

    .venv/bin/python tools/bench_targets.py [--rows 1000000] [--rounds 3] [--json OUT]

Compiles compressor/coder/csrc/bench/targets.c with the plain C core once per target: `plain`
(the compiler's baseline, 4-lane vectors: what a target without clones gets), `avx2` and
`avx512` (x86-64-v4) each alone, and `clones` (as the extension is built: the CPU picks).  Runs
them in alternation `--rounds` times (each a best of 3), prints the median rates, and exits 1
unless every build wrote the same stream and decoded it back.  tests/test_c_harness.py runs it
small, so that every target's integers are held equal to the others' in `make test`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "compressor" / "coder" / "csrc"
# The extension's flags that fix the arithmetic (setup.py), and its warnings as errors.
CFLAGS = ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra", "-Wshadow", "-Werror",
          "-Wno-unused-parameter", "-Wno-missing-field-initializers"]  # fmt: skip
TARGETS = {
    "plain": ["-DEQ_NO_CLONES"],
    "avx2": ["-DEQ_NO_CLONES", "-mavx2"],
    "avx512": ["-DEQ_NO_CLONES", "-march=x86-64-v4"],
    "clones": [],
}
NEEDS = {"avx2": {"avx2"}, "avx512": {"avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl"}}


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def runnable_targets() -> list[str]:
    """Every target this machine can run; the x86 ones only on x86-64 CPUs that have them."""
    flags = cpu_flags()
    return [t for t in TARGETS if t not in NEEDS or NEEDS[t] <= flags]


def build(target: str, out: Path) -> Path:
    binary = out / f"targets-{target}"
    sources = [CSRC / "bench" / "targets.c", CSRC / "range_coder.c", CSRC / "quantize.c"]
    cmd = ["gcc", *CFLAGS, *TARGETS[target], *map(str, sources), "-lm", "-o", str(binary)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"building {target} failed:\n{done.stderr}")
    return binary


def measure(rows: int, rounds: int, alphabet: int = 256) -> dict:
    """Median rates per target over alternating rounds, and whether every stream is the same."""
    targets = runnable_targets()
    results: dict[str, list[dict]] = {t: [] for t in targets}
    with tempfile.TemporaryDirectory() as tmp:
        binaries = {t: build(t, Path(tmp)) for t in targets}
        for _ in range(rounds):
            for t in targets:
                done = subprocess.run([binaries[t], str(rows), str(alphabet), "3"], capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{t}: {done.stderr.strip()}")
                results[t].append(json.loads(done.stdout))
    streams = {r["stream_fnv1a"] for runs in results.values() for r in runs}
    return {
        "rows": rows,
        "alphabet": alphabet,
        "rounds": rounds,
        "same_stream": len(streams) == 1,
        "targets": {
            t: {
                "encode_msym_s": statistics.median(r["encode_msym_s"] for r in runs),
                "decode_msym_s": statistics.median(r["decode_msym_s"] for r in runs),
                "bits": runs[0]["bits"],
                "stream_fnv1a": runs[0]["stream_fnv1a"],
            }
            for t, runs in results.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="symbols coded, one fresh row each")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    res = measure(args.rows, args.rounds)
    for t, r in res["targets"].items():
        print(f"{t:8s} encode {r['encode_msym_s']:7.3f} M/s  decode {r['decode_msym_s']:7.3f} M/s  {r['stream_fnv1a']}")
    print(json.dumps(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    if not res["same_stream"]:
        sys.exit("the targets wrote different streams")


if __name__ == "__main__":
    main()
