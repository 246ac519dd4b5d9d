"""Plain arithmetic coding of whole documents (the paper's AC and, with a unigram model, StaticAC).

One stream per document, its symbols ending in EOS; the model sees the document's own history.
Decoding runs all documents in lockstep, one symbol per step, since the model needs the prefix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from compressor import coder
from compressor.models import ALPHABET, EOS, ByteModel

Progress = Callable[[int], None]


class StreamDecodeError(ValueError):
    """A stream that does not decode to one complete document."""


def coded_intervals(symbols: np.ndarray, model: ByteModel) -> tuple[np.ndarray, np.ndarray]:
    """(cum, freq) of every symbol of one document under the model, int32."""
    table, rows = model.predict(symbols[None, :-1])
    r = rows[0]
    cum = table[r, symbols]
    return cum, table[r, symbols + 1] - cum


def encode_document(symbols: np.ndarray, model: ByteModel) -> tuple[bytes, int, float]:
    """Symbols ending in EOS -> (stream bytes, stream bits, ideal bits under the model)."""
    cum, freq = coded_intervals(symbols, model)
    enc = coder.RangeEncoder(model.precision)
    enc.encode_intervals(cum, freq)
    data, nbits = enc.finish()
    ideal = float(model.precision * freq.size - np.log2(freq).sum())
    return data, nbits, ideal


def max_symbols(nbytes: int, precision: int) -> int:
    """No valid stream of nbytes holds more symbols: each costs >= -log2((2^P - 256) / 2^P) bits."""
    cheapest = -math.log2(((1 << precision) - (ALPHABET - 1)) / (1 << precision))
    return int((nbytes * 8 + 64) / cheapest) + 2


class _Histories:
    """Each document's decoded bytes, and the part of it the model can see."""

    def __init__(self, n: int, context_size: int | None):
        self.out = [bytearray() for _ in range(n)]
        self.width = context_size
        self.ctx = np.zeros((n, context_size if context_size is not None else 64), dtype=np.int32)
        self.clen = np.zeros(n, dtype=np.int64)

    def contexts(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        klen = self.clen[live]
        return self.ctx[live, : int(klen.max()) if live.size else 0], klen

    def append(self, d: int, s: int) -> None:
        self.out[d].append(s)
        if self.width == 0:
            return
        if self.clen[d] == self.ctx.shape[1]:
            if self.width is not None:  # keep the last `width` symbols
                self.ctx[d, :-1] = self.ctx[d, 1:]
                self.ctx[d, -1] = s
                return
            self.ctx = np.concatenate([self.ctx, np.zeros_like(self.ctx)], axis=1)
        self.ctx[d, self.clen[d]] = s
        self.clen[d] += 1


def decode_documents(
    streams: Sequence[bytes], model: ByteModel, progress: Progress | None = None
) -> list[np.ndarray | StreamDecodeError]:
    """Each stream -> its document's symbols (ending in EOS), or the error that stopped it."""
    n = len(streams)
    results: list[np.ndarray | StreamDecodeError | None] = [None] * n
    decoders = [coder.RangeDecoder(s, model.precision) for s in streams]
    limits = [max_symbols(len(s), model.precision) for s in streams]
    hist = _Histories(n, model.context_size)
    live = np.arange(n)
    one = np.empty(1, dtype=np.int32)
    while live.size:
        ctx, klen = hist.contexts(live)
        table, rows = model.predict(ctx)
        cdfs = table[rows[np.arange(live.size), klen]]
        ended = np.zeros(live.size, dtype=bool)
        for i, d in enumerate(live.tolist()):
            try:
                decoders[d].decode_cdfs(cdfs[i : i + 1], one)
            except ValueError as exc:
                results[d], ended[i] = StreamDecodeError(f"document {d}: {exc}"), True
                continue
            s = int(one[0])
            if s == EOS:
                results[d], ended[i] = np.append(np.frombuffer(hist.out[d], np.uint8), EOS).astype(np.int32), True
            elif len(hist.out[d]) >= limits[d]:
                results[d], ended[i] = StreamDecodeError(f"document {d}: no EOS within {limits[d]} symbols"), True
            else:
                hist.append(d, s)
        if progress is not None:
            progress(int(live.size))
        live = live[~ended]
    return results  # type: ignore[return-value]
