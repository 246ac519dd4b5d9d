"""The simple byte models: uniform, unigram (the paper's StaticAC) and order-2, fitted on documents."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from compressor.coder.native import DEFAULT_PRECISION, quantize
from compressor.models.base import ALPHABET, ByteModel, check_contexts, symbols_of


def unigram_probs(docs: Iterable[np.ndarray]) -> np.ndarray:
    """Witten-Bell smoothed symbol frequencies (toward uniform) over documents' symbols."""
    counts = np.zeros(ALPHABET, dtype=np.float64)
    for syms in docs:
        counts += np.bincount(syms, minlength=ALPHABET)
    return witten_bell(counts[None], np.full((1, ALPHABET), 1.0 / ALPHABET))[0]


def witten_bell(counts: np.ndarray, backoff: np.ndarray) -> np.ndarray:
    """Rows of counts interpolated with backoff rows, weighted by the number of distinct symbols."""
    total = counts.sum(axis=1, keepdims=True)
    distinct = (counts > 0).sum(axis=1, keepdims=True)
    weight = np.where(total > 0, distinct / np.maximum(total + distinct, 1), 1.0)
    return (1 - weight) * counts / np.maximum(total, 1) + weight * backoff


class TableModel:
    """A model whose distributions are rows of one fixed CDF table."""

    name = "table"
    context_size: int | None = 0
    segment: int | None = None

    def __init__(self, probs: np.ndarray, precision: int = DEFAULT_PRECISION):
        self.precision = precision
        self.table = quantize(np.asarray(probs, dtype=np.float32), precision)

    def row_index(self, ctx: np.ndarray) -> np.ndarray:
        return np.zeros((ctx.shape[0], ctx.shape[1] + 1), dtype=np.int32)

    def predict(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.table, self.row_index(check_contexts(contexts))


class UniformModel(TableModel):
    """Every symbol as likely as every other: 8.006 bits per symbol."""

    name = "uniform"

    def __init__(self, precision: int = DEFAULT_PRECISION):
        super().__init__(np.ones((1, ALPHABET)), precision)


class UnigramModel(TableModel):
    """Symbol frequencies of a training corpus, context-free (the paper's StaticAC)."""

    name = "unigram"

    @classmethod
    def fit(cls, docs: Iterable[bytes], precision: int = DEFAULT_PRECISION) -> UnigramModel:
        return cls(unigram_probs(symbols_of(d) for d in docs)[None], precision)


class Order2Model(TableModel):
    """P(symbol | previous two bytes), Witten-Bell interpolated down to order 1 and order 0.

    Row 0 is order 0 (no context), rows 1..256 order 1, the rest one per byte pair seen in
    training.  A context shorter than two bytes (a window's start) uses the lower orders.
    """

    name = "order2"
    context_size = 2

    def __init__(self, probs: np.ndarray, pair_rows: np.ndarray, precision: int = DEFAULT_PRECISION):
        super().__init__(probs, precision)
        self.pair_rows = pair_rows  # [65536] row of pair (b2 << 8 | b1)

    @classmethod
    def fit(cls, docs: Iterable[bytes], precision: int = DEFAULT_PRECISION) -> Order2Model:
        seqs = [symbols_of(d) for d in docs]
        if not seqs:
            raise ValueError("order2 model needs at least one training document")
        p0 = unigram_probs(seqs)
        prev1 = np.concatenate([s[:-1] for s in seqs])
        next1 = np.concatenate([s[1:] for s in seqs])
        counts1 = np.bincount(prev1 * ALPHABET + next1, minlength=256 * ALPHABET).reshape(256, ALPHABET)
        p1 = witten_bell(counts1.astype(np.float64), p0[None])
        key = np.concatenate([s[:-2] * 256 + s[1:-1] for s in seqs])
        nxt = np.concatenate([s[2:] for s in seqs])
        pairs, inverse = np.unique(key, return_inverse=True)
        counts2 = np.zeros((pairs.size, ALPHABET), dtype=np.float64)
        np.add.at(counts2, (inverse, nxt), 1.0)
        p2 = witten_bell(counts2, p1[pairs & 0xFF])
        pair_rows = 1 + (np.arange(65536, dtype=np.int32) & 0xFF)  # unseen pair -> order 1
        pair_rows[pairs] = 257 + np.arange(pairs.size, dtype=np.int32)
        return cls(np.concatenate([p0[None], p1, p2]), pair_rows, precision)

    def row_index(self, ctx: np.ndarray) -> np.ndarray:
        rows = np.empty((ctx.shape[0], ctx.shape[1] + 1), dtype=np.int32)
        rows[:, 0] = 0
        if ctx.shape[1] >= 1:
            rows[:, 1] = 1 + ctx[:, 0]
        if ctx.shape[1] >= 2:
            rows[:, 2:] = self.pair_rows[(ctx[:, :-1] << 8) | ctx[:, 1:]]
        return rows


MODELS = {"uniform": UniformModel, "unigram": UnigramModel, "order2": Order2Model}


def build_model(name: str, fit_docs: Iterable[bytes] | None, precision: int = DEFAULT_PRECISION) -> ByteModel:
    """A named model, fitted on `fit_docs` where it learns from data."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if name == "uniform":
        return UniformModel(precision)
    if fit_docs is None:
        raise ValueError(f"model {name!r} needs documents to fit on")
    return MODELS[name].fit(fit_docs, precision)
