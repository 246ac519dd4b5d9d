"""A benchmark of two commits, in alternation on one machine, medians: is a change within noise?

    .venv/bin/python tools/ab_bench.py BASE [--head REF] [--rounds 3] -- bench coder
    .venv/bin/python tools/ab_bench.py BASE -- bench m1 --m1 runs/m1 --input $C4 --examples 128

Runs `eqinfo ARGS` in a worktree of BASE and in HEAD (the working tree when omitted), BASE then
HEAD, `--rounds` times, so that the machine's drift falls on both alike, and reads the JSON line
each run prints last.  Prints the median of every numeric figure for both, and HEAD / BASE.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from checkouts import checkout, eqinfo


def figures(obj, prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of a JSON value, by its dotted path (lists by index)."""
    if isinstance(obj, bool):
        return {}
    if isinstance(obj, int | float):
        return {prefix: float(obj)}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    out: dict[str, float] = {}
    for key, value in items:
        out.update(figures(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def once(tree: Path, args: list[str]) -> dict[str, float]:
    done = subprocess.run(
        eqinfo(*args), cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"failed in {tree}: {done.stderr[-2000:]}")
    return figures(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("--head", help="a commit [default: the working tree]")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    if not command:
        parser.error("give the eqinfo command after --")
    with tempfile.TemporaryDirectory(prefix="eqinfo-ab-") as tmp, contextlib.ExitStack() as stack:
        trees = {"base": stack.enter_context(checkout(args.base, Path(tmp))), "head": None}
        trees["head"] = stack.enter_context(checkout(args.head, Path(tmp)))
        runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for r in range(args.rounds):
            for side in ("base", "head"):
                runs[side].append(once(trees[side], command))
                print(f"round {r + 1}/{args.rounds}: {side} done", file=sys.stderr)
    keys = [k for k in runs["base"][0] if all(k in run for side in runs.values() for run in side)]
    width = max(map(len, keys), default=10)
    print(f"{'figure':<{width}} {'base':>14} {'head':>14} {'head/base':>9}   (medians of {args.rounds})")
    for k in keys:
        base = statistics.median(run[k] for run in runs["base"])
        head = statistics.median(run[k] for run in runs["head"])
        ratio = f"{head / base:9.3f}" if base else f"{'-':>9}"
        print(f"{k:<{width}} {base:>14.6g} {head:>14.6g} {ratio}")


if __name__ == "__main__":
    main()
