"""Shared fixtures: the real C4 sample (never copied into the repo) and small test models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from compressor.coder import quantize
from compressor.models import ALPHABET

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_C4 = ROOT.parent / "shared/data/c4/c4-train.00000-of-01024.first900.json.gz"


@pytest.fixture(scope="session")
def c4_sample() -> Path:
    path = Path(os.environ.get("EQINFO_C4_SAMPLE", DEFAULT_C4))
    if not path.is_file():
        pytest.fail(f"C4 sample not found at {path}: set EQINFO_C4_SAMPLE (see .ci/run)")
    return path


class HashModel:
    """A test model whose CDF depends on the visible history (all of it, or the last
    `context_size` symbols) through a hash, so any disagreement between encoder and decoder
    about the context shows up as a mismatch."""

    name = "hash"
    segment = None

    def __init__(self, table: np.ndarray, precision: int, context_size: int | None = None):
        self.table, self.precision, self.context_size = table, precision, context_size

    def predict(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx = np.asarray(contexts, dtype=np.int64)
        rows = np.empty((ctx.shape[0], ctx.shape[1] + 1), dtype=np.int32)
        for j in range(ctx.shape[1] + 1):
            h = np.full(ctx.shape[0], j if self.context_size is None else min(j, self.context_size), np.int64)
            for c in range(0 if self.context_size is None else max(0, j - self.context_size), j):
                h = (h * 1000003 + ctx[:, c] + 1) % 2147483647
            rows[:, j] = h % self.table.shape[0]
        return self.table, rows


def model_table(kind: str, rows: int, precision: int, seed: int) -> np.ndarray:
    """CDF tables of a few shapes, degenerate ones included."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        probs = np.ones((rows, ALPHABET))
    elif kind == "peaked":  # one symbol (0x00 or 'e') holds almost all the mass
        probs = np.full((rows, ALPHABET), 1e-9)
        probs[np.arange(rows), rng.choice([0, 101], rows)] = 1.0
    elif kind == "pow2":
        probs = 2.0 ** -rng.integers(0, 12, (rows, ALPHABET)).astype(float)
    else:
        probs = rng.dirichlet(np.full(ALPHABET, 0.2), rows)
    return quantize(probs.astype(np.float32), precision)


TABLE_KINDS = ("dirichlet", "uniform", "peaked", "pow2")
