"""`make gpu-check`: what the project claims of a GPU, measured in one run, into one JSON.

Each check runs the real commands (`eqinfo ...` in subprocesses, as a user would), records its
figures and whether it held, and the run goes on past a failed check.  On one GPU it takes about
8 minutes:

- m1: trains a paper-size M1 for a minute (its weights do not matter for speed or exactness);
- m1_coding: EqualInfoAC[b=16] encoded on the GPU and decoded on the CPU, every example exact,
  in B/s at 256, 1,024 and 4,096 lanes (`eqinfo bench m1`), M1's step eager and as CUDA graphs;
- compress: `eqinfo compress` on the DirectRunner with M1 on the GPU, then every document
  rebuilt from the shards on the CPU (`eqinfo decode-shards`, the GPU hidden);
- m2: 25m and 113m on those shards (v=65k) in bf16, with and without `--compile`: tokens/s, MFU
  against the peak the trainer names, peak memory;
- resume: a run killed by SIGKILL after its first checkpoint and resumed, against the same run
  uninterrupted: every later loss equal.

`--smoke` runs the same checks on the CPU at toy sizes (tiny models, a few lanes, no compile):
the tests run it, so the script cannot rot on machines without a GPU.

    python tools/gpu_check.py --out build/gpu-check            # on a GPU machine
    python tools/gpu_check.py --out /tmp/smoke --smoke         # anywhere
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from compressor.io.demo_text import default_documents
from compressor.models.m1.integer import GRAPHS_ENV

FULL = {
    "device": "cuda",
    "m1": ["--size", "paper", "--minutes", "1", "--eval-every", "100000"],
    "lanes": [256, 1024, 4096],
    "cuda_graphs": [False, True],  # M1's step eagerly, then as CUDA graphs (EQINFO_M1_CUDA_GRAPHS)
    "example_bytes": 1024,
    "m2": [("25m", 32), ("113m", 32)],
    "compile": [False, True],
    "m2_steps": 30,
    "resume_model": "25m",
}
SMOKE = {
    "device": "cpu",
    "m1": ["--size", "tiny", "--steps", "5", "--eval-every", "100000"],
    "lanes": [2, 4, 8],
    "cuda_graphs": [False],  # graphs are a GPU's
    "example_bytes": 256,
    "m2": [("tiny", 4)],
    "compile": [False],
    "m2_steps": 6,
    "resume_model": "tiny",
}
RESUME_STEPS, RESUME_SAVE = 8, 4


def eqinfo(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "compressor.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    """The JSON line a command prints last, or why there is none."""
    if proc.returncode:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def write_text(docs: list[bytes], path: Path, at_least: int = 0) -> Path:
    """The documents as JSON lines, repeated until they hold `at_least` bytes (M1 codes each
    example on its own, so repeated text times and checks as well as new text)."""
    lines = [json.dumps({"text": d.decode("utf-8", "replace")}) for d in docs]
    size, total, out = sum(map(len, docs)), 0, []
    while total < max(at_least, 1):
        out += lines
        total += size
    path.write_text("\n".join(out) + "\n")
    return path


def check_m1(plan: dict, work: Path, text: Path) -> dict:
    proc = eqinfo("train-m1", "--input", text, "--out", work / "m1", "--holdout", "5", *plan["m1"])
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return {"ok": (work / "m1" / "integer.safetensors").is_file()}


def check_m1_coding(plan: dict, work: Path, docs: list[bytes]) -> dict:
    rows = []
    for lanes in plan["lanes"]:
        text = write_text(docs, work / f"text-{lanes}.jsonl", lanes * plan["example_bytes"])
        args = ["--examples", lanes, "--example-bytes", plan["example_bytes"], "--device", plan["device"]]
        for graphs in plan["cuda_graphs"]:
            env = {**os.environ, GRAPHS_ENV: "1" if graphs else "0"}
            bench = eqinfo(
                "bench", "m1", "--m1", work / "m1", "--input", text, *args, "--decode-device", "cpu", env=env
            )
            r = last_json(bench)
            figures = ("raw_bytes", "encode_bytes_s", "decode_bytes_s", "exact", "encode_peak_fraction")
            rows.append({"lanes": lanes, "cuda_graphs": graphs, **{k: r[k] for k in figures}})
    return {"ok": all(r["exact"] for r in rows), "by_lanes": rows}


def check_compress(plan: dict, work: Path, text: Path) -> dict:
    spec = f"equal_info_ac:b=16,v=65536,m1={work / 'm1'}"
    started = time.perf_counter()
    summary = last_json(eqinfo("compress", "--input", text, "--output", work / "eq" / "eq", "--tokenizer", spec, "-q"))
    seconds = time.perf_counter() - started
    cpu_only = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    decoded = eqinfo("decode-shards", "--input", work / "eq" / "eq", "--output", work / "decoded.jsonl", env=cpu_only)
    decoded = last_json(decoded)
    return {
        "ok": decoded["exact"] and decoded["decoded"] == summary["documents"],
        "compress_seconds": round(seconds, 1),
        "compress_bytes_s": round(summary["raw_bytes"] / seconds, 1),
        "summary": summary,
        "decoded_on_cpu": decoded,
    }


def m2_command(out: Path, size: str, batch: int, steps: int, *extra) -> list[str]:
    """`eqinfo train-m2` on the compress check's shards (EqualInfoAC[b=16, v=65k])."""
    args = ["--shards", out.parent.parent / "eq" / "eq", "--out", out, "--model", size, "--batch", batch]
    return [sys.executable, "-m", "compressor.cli", "train-m2", *map(str, [*args, "--steps", steps, *extra])]


def train_m2(command: list[str]) -> list[dict]:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return metrics(Path(command[command.index("--out") + 1]))


def check_m2(plan: dict, work: Path) -> dict:
    runs, steps = [], plan["m2_steps"]
    for size, batch in plan["m2"]:
        for compiled in plan["compile"]:
            out = work / "m2" / f"{size}{'-compile' if compiled else ''}"
            extra = ["--log-every", steps // 3, "--save-every", 10**9, *(["--compile"] if compiled else [])]
            rows = train_m2(m2_command(out, size, batch, steps, *extra))
            timed = [r for r in rows if "tokens_per_second" in r][1:]  # after the first window (start-up, compile)
            runs.append(
                {
                    "model": size,
                    "compile": compiled,
                    "batch": batch,
                    "tokens_per_second": round(len(timed) / sum(1 / r["tokens_per_second"] for r in timed), 1),
                    "mfu": round(max(r["mfu"] for r in timed), 4),
                    "peak_memory_gib": round(max(r["peak_memory_bytes"] for r in timed) / 2**30, 3),
                    "loss": round(timed[-1]["loss"], 4),
                }
            )
    return {"ok": True, "runs": runs}


def check_resume(plan: dict, work: Path) -> dict:
    size, batch = plan["resume_model"], plan["m2"][0][1]
    extra = ["--log-every", 1, "--save-every", RESUME_SAVE]
    straight = train_m2(m2_command(work / "resume" / "straight", size, batch, RESUME_STEPS, *extra))
    killed = m2_command(work / "resume" / "killed", size, batch, RESUME_STEPS, *extra)
    proc = subprocess.Popen(killed, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = work / "resume" / "killed" / "checkpoints" / "latest"
    try:
        while not (latest.exists() and latest.read_text() == f"step-{RESUME_SAVE:08d}"):
            if proc.poll() is not None:
                raise RuntimeError("the run ended before its first checkpoint")
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    resumed = train_m2(killed)
    a, b = ([r["loss"] for r in rows if "loss" in r] for rows in (straight, resumed))
    return {
        "ok": a == b,
        "max_abs_loss_difference": max(abs(x - y) for x, y in zip(a, b, strict=True)),
        "steps": RESUME_STEPS,
        "killed_after_step": RESUME_SAVE,
    }


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Work folder.")
@click.option("--smoke", is_flag=True, help="The same checks on the CPU at toy sizes (what the tests run).")
@click.option("--documents", type=click.IntRange(min=10), default=900, show_default=True, help="Of the demo's text.")
def main(out: Path, smoke: bool, documents: int):
    """Runs every check; writes OUT/gpu_check.json and prints it; exits 1 if any check failed."""
    plan = SMOKE if smoke else FULL
    if plan["device"] == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.ClickException("no GPU here (torch sees no CUDA device): run with --smoke for the CPU checks")
    out.mkdir(parents=True, exist_ok=True)
    docs, source = default_documents(documents)
    text = write_text(docs, out / "text.jsonl")
    checks = {
        "m1": lambda: check_m1(plan, out, text),
        "m1_coding": lambda: check_m1_coding(plan, out, docs),
        "compress": lambda: check_compress(plan, out, text),
        "m2": lambda: check_m2(plan, out),
        "resume": lambda: check_resume(plan, out),
    }
    result = {"smoke": smoke, "device": plan["device"], "text": source, "checks": {}}
    for name, check in checks.items():
        click.echo(f"{name} ...", err=True)
        started = time.perf_counter()
        try:
            outcome = check()
        except Exception as exc:  # a failed check is a result; the others still run
            outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        outcome["seconds"] = round(time.perf_counter() - started, 1)
        result["checks"][name] = outcome
        click.echo(f"{name}: {'ok' if outcome['ok'] else 'FAILED'} in {outcome['seconds']} s", err=True)
    result["failed"] = [name for name, c in result["checks"].items() if not c["ok"]]
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
    click.echo(json.dumps(result))
    sys.exit(1 if result["failed"] else 0)


if __name__ == "__main__":
    main()
