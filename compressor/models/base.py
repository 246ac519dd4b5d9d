"""What a byte model is to the coder: the alphabet, the ByteModel protocol M1 and the simple models implement.

The alphabet is the 256 byte values plus EOS (symbol 256), which ends every document.  A model
maps window-local contexts to integer CDFs.  To keep data movement small, `predict` returns a
CDF table and, for every position, the index of its row: simple models index a fixed table,
neural models return one fresh row per position.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

EOS = 256
ALPHABET = 257  # bytes + EOS


class ByteModel(Protocol):
    """Next-symbol distributions given a byte context.

    A model may also offer `session(n)`, an incremental DecodeSession over n histories
    (compressor.codecs.sessions; M1's keeps a KV cache); decoders use it where present.
    """

    name: str
    precision: int
    # Symbols of history that can change a prediction; None means unbounded.
    context_size: int | None
    # A document's context starts afresh every `segment` symbols (None: never).  Lets a model
    # with a bounded training length code long documents; decoders reset their history to match.
    segment: int | None

    def predict(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """contexts int32 [B, K] (bytes) -> (table int32 [R, 258], rows int32 [B, K+1]).

        table[rows[b, j]] is the CDF of the symbol that follows contexts[b, :j].  Entries of a
        context past the part a caller cares about may hold anything in 0..255.
        """
        ...


def check_contexts(contexts: np.ndarray) -> np.ndarray:
    ctx = np.asarray(contexts)
    if ctx.ndim != 2:
        raise ValueError(f"contexts must be 2-D [batch, length], got shape {ctx.shape}")
    if ctx.size and (ctx.min() < 0 or ctx.max() > 255):
        raise ValueError("contexts must hold byte values 0..255 (EOS ends a document and is never context)")
    return ctx.astype(np.int32, copy=False)


def symbols_of(doc: bytes) -> np.ndarray:
    """A document's symbols: its bytes, then EOS."""
    out = np.empty(len(doc) + 1, dtype=np.int32)
    out[:-1] = np.frombuffer(doc, dtype=np.uint8)
    out[-1] = EOS
    return out
