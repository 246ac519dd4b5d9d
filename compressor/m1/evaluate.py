"""Bits per byte of M1 on documents, with full context or with the context reset every k bytes.

Each document's symbols (bytes, then EOS) are cut into segments that each start from BOS, as
windows do; "full" context uses segments of `chunk` bytes.  bits/byte counts every coded
symbol's bits (EOS included) over the document bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from compressor.m1.data import IGNORE
from compressor.m1.model import BOS, M1
from compressor.models import symbols_of


def segments(docs: Sequence[bytes], every: int) -> list[np.ndarray]:
    out = []
    for d in docs:
        s = symbols_of(d)
        out.extend(s[i : i + every] for i in range(0, s.size, every))
    return out


@torch.no_grad()
def bits_per_byte(
    model: M1, docs: Sequence[bytes], reset_every: int | None = None, chunk: int = 1024, batch_tokens: int = 32768
) -> float:
    """M1's code length for `docs` in bits per byte."""
    model.eval()
    total_bits, batch = 0.0, []

    def flush() -> float:
        length = batch[-1].size  # segments arrive sorted by length
        inputs = np.full((len(batch), length), BOS, dtype=np.int64)
        targets = np.full((len(batch), length), IGNORE, dtype=np.int64)
        for j, s in enumerate(batch):
            targets[j, : s.size] = s
            inputs[j, 1 : s.size] = s[:-1]
        logits = model(torch.from_numpy(inputs))
        nll = F.cross_entropy(
            logits.flatten(0, 1), torch.from_numpy(targets).flatten(), ignore_index=IGNORE, reduction="sum"
        )
        return float(nll) / math.log(2)

    for seg in sorted(segments(docs, reset_every or chunk), key=len):
        if batch and (len(batch) + 1) * seg.size > batch_tokens:
            total_bits += flush()
            batch = []
        batch.append(seg)
    if batch:
        total_bits += flush()
    return total_bits / max(1, sum(len(d) for d in docs))
