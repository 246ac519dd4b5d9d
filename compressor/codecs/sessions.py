"""What a model sees while decoding: per-document histories, and sessions over them.

Decoders run many documents in lockstep and ask the model for one next-symbol CDF per document
per step.  A session answers that: generically by handing the model each document's visible
history as one left-aligned batch (ContextBuffer), or by the model's own incremental state.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ContextBuffer:
    """The last `width` symbols of each of n histories (all of them when width is None)."""

    def __init__(self, n: int, width: int | None):
        self.width = width
        self.ctx = np.zeros((n, width if width is not None else 16), dtype=np.int32)
        self.clen = np.zeros(n, dtype=np.int64)

    def batch(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(contexts [len(live), K], lengths): row i's history is contexts[i, :lengths[i]]."""
        klen = self.clen[live]
        k = int(klen.max()) if live.size else 0
        return self.ctx[live, :k], klen

    def append(self, docs: np.ndarray, symbols: np.ndarray) -> None:
        """Appends symbols[i] to history docs[i] (each doc at most once per call)."""
        if self.width == 0 or docs.size == 0:
            return
        full = self.clen[docs] == self.ctx.shape[1]
        if full.any() and self.width is None:
            self.ctx = np.concatenate([self.ctx, np.zeros_like(self.ctx)], axis=1)
            full[:] = False
        slide = docs[full]  # keep the last `width` symbols
        self.ctx[slide, :-1] = self.ctx[slide, 1:]
        self.ctx[slide, -1] = symbols[full]
        grow = docs[~full]
        self.ctx[grow, self.clen[grow]] = symbols[~full]
        self.clen[grow] += 1

    def reset(self, docs: np.ndarray) -> None:
        self.clen[docs] = 0


class DecodeSession(Protocol):
    """A decoder's view of a model: the next CDF of each live history, one symbol at a time."""

    def next_cdfs(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table, rows): table[rows[i]] is the CDF of the symbol after history docs[i]."""
        ...

    def append(self, docs: np.ndarray, symbols: np.ndarray) -> None: ...

    def reset(self, docs: np.ndarray) -> None: ...


class RecomputeSession:
    """Any ByteModel as a session: each step predicts afresh from the visible histories."""

    def __init__(self, model, n: int):
        self.model = model
        self.visible = ContextBuffer(n, model.context_size)
        self.append, self.reset = self.visible.append, self.visible.reset

    def next_cdfs(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx, klen = self.visible.batch(docs)
        table, rows = self.model.predict(ctx)
        return table, rows[np.arange(docs.size), klen]


def open_session(model, n: int) -> DecodeSession:
    """The model's own incremental session where it has one (M1's KV cache), else recompute."""
    factory = getattr(model, "session", None)
    return factory(n) if factory is not None else RecomputeSession(model, n)
