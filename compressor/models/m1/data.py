"""Training segments for M1: fresh contexts at random offsets, long and short.

Every segment starts with BOS, as a window or a document does at coding time.  Equal-Info
windows only ever show M1 a few to a few dozen bytes, while plain AC shows it long histories, so
the sampler mixes long segments with short ones; targets run to the document's EOS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compressor.models.base import symbols_of
from compressor.models.m1.model import BOS

IGNORE = -100


class SegmentSampler:
    """Draws (inputs, targets) batches from documents with a seeded, checkpointable generator."""

    def __init__(self, docs: Sequence[bytes], seed: int):
        self.docs = [symbols_of(d) for d in docs if d]
        if not self.docs:
            raise ValueError("no non-empty training documents")
        lengths = np.array([d.size for d in self.docs], dtype=np.float64)
        self.weights = lengths / lengths.sum()  # pick documents in proportion to their bytes
        self.rng = np.random.default_rng(seed)

    def batch(self, rows: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """inputs [rows, length] (BOS + context) and targets [rows, length]; a segment is shorter
        (targets IGNORE past its end) only where its document is."""
        inputs = np.full((rows, length), BOS, dtype=np.int64)
        targets = np.full((rows, length), IGNORE, dtype=np.int64)
        for i, d in enumerate(self.rng.choice(len(self.docs), size=rows, p=self.weights)):
            doc = self.docs[d]
            n = min(length, doc.size)
            start = int(self.rng.integers(0, doc.size - n + 1))
            seg = doc[start : start + n]
            targets[i, :n] = seg
            inputs[i, 1:n] = seg[:-1]
        return inputs, targets

    def mixture_batch(
        self, step: int, tokens: int, long_len: int, short_max: int, long_per_short: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """`long_per_short` steps of long segments, then one step of one short length drawn from
        1..short_max for the whole batch (so no row is padded); about `tokens` positions either way."""
        short = step % (long_per_short + 1) == long_per_short
        length = int(self.rng.integers(1, short_max + 1)) if short else long_len
        return self.batch(max(1, tokens // length), length)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state
