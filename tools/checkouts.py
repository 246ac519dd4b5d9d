"""Commits side by side for the tools here: a worktree of a commit with its C coder built in place,
and commands run in it with this venv's packages (PYTHONPATH puts the worktree's code first)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, log: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")


@contextlib.contextmanager
def checkout(ref: str | None, tmp: Path):
    """A worktree of `ref` (None: this working tree as it is) with its C coder built in place."""
    if ref is None:
        yield ROOT
        return
    tree = tmp / f"tree-{ref.replace('/', '_')}"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True, capture_output=True)
    try:
        run([sys.executable, "setup.py", "--quiet", "build_ext", "--inplace"], tree, tmp / "build.log")
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)


def eqinfo(*args: str) -> list[str]:
    return [sys.executable, "-m", "compressor.cli", *args]
