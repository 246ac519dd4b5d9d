"""Training segments for M1: fresh contexts at random offsets, long and short.

Every segment starts with BOS, as a window or a document does at coding time.  Equal-Info
windows only ever show M1 a few to a few dozen bytes, while plain AC shows it long histories, so
the sampler mixes long segments with short ones; targets run to the document's EOS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compressor.m1.model import BOS
from compressor.models import symbols_of

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

    def batch(self, batch_size: int, max_len: int, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """inputs [B, L] (BOS + context) and targets [B, L] (IGNORE past each segment's end)."""
        inputs = np.full((batch_size, max_len), BOS, dtype=np.int64)
        targets = np.full((batch_size, max_len), IGNORE, dtype=np.int64)
        picks = self.rng.choice(len(self.docs), size=batch_size, p=self.weights)
        lens = self.rng.integers(min_len, max_len + 1, size=batch_size)
        for i, (d, n) in enumerate(zip(picks, lens, strict=True)):
            doc = self.docs[d]
            n = min(int(n), doc.size)
            start = int(self.rng.integers(0, doc.size - n + 1))
            seg = doc[start : start + n]
            targets[i, :n] = seg
            inputs[i, 1:n] = seg[:-1]
        return inputs, targets

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state
