"""Bits per byte of M1 on documents, with full context or with the context reset every k bytes.

Each document's symbols (bytes, then EOS) are cut into segments that each start from BOS, as
windows do; "full" context uses segments of `chunk` bytes.  bits/byte counts every coded
symbol's bits (EOS included) over the document bytes.  The float model is scored by its
softmax, the integer twin by the CDFs the coder would actually use.
"""

from __future__ import annotations

import lzma
import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from compressor.models.base import symbols_of
from compressor.models.m1.data import IGNORE
from compressor.models.m1.integer import IntegerM1
from compressor.models.m1.model import BOS, M1


def batches(docs: Sequence[bytes], every: int, batch_tokens: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, targets) batches of fresh segments, similar lengths together."""
    segs = sorted((s[i : i + every] for s in map(symbols_of, docs) for i in range(0, s.size, every)), key=len)
    batch: list[np.ndarray] = []
    for seg in [*segs, None]:
        if batch and (seg is None or (len(batch) + 1) * seg.size > batch_tokens):
            length = batch[-1].size
            inputs = np.full((len(batch), length), BOS, dtype=np.int64)
            targets = np.full((len(batch), length), IGNORE, dtype=np.int64)
            for j, s in enumerate(batch):
                targets[j, : s.size] = s
                inputs[j, 1 : s.size] = s[:-1]
            yield inputs, targets
            batch = []
        if seg is not None:
            batch.append(seg)


@torch.no_grad()
def bits_per_byte(
    model: M1 | IntegerM1,
    docs: Sequence[bytes],
    reset_every: int | None = None,
    chunk: int = 1024,
    batch_tokens: int = 32768,
) -> float:
    """The code length of `docs` in bits per byte under the float M1 or its integer twin."""
    total = 0.0
    for inputs, targets in batches(docs, reset_every or chunk, batch_tokens):
        t = torch.from_numpy(targets)
        if isinstance(model, IntegerM1):
            cdfs = model.cdfs(torch.from_numpy(inputs)).long()
            keep = t != IGNORE
            sym = t.clamp(min=0).unsqueeze(-1)
            freq = (cdfs.gather(-1, sym + 1) - cdfs.gather(-1, sym)).squeeze(-1)[keep]
            total += float((model.precision - torch.log2(freq.double())).sum())
        else:
            model.eval()
            nll = F.cross_entropy(
                model(torch.from_numpy(inputs)).flatten(0, 1), t.flatten(), ignore_index=IGNORE, reduction="sum"
            )
            total += float(nll) / math.log(2)
    return total / max(1, sum(len(d) for d in docs))


def xz_bits_per_byte(docs: Sequence[bytes]) -> float:
    """xz -9e on the documents concatenated: the classical reference on the same text."""
    raw = b"".join(docs)
    return 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)) / max(1, len(raw))
