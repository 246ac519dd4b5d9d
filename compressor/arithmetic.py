"""Plain arithmetic coding of whole documents (the paper's AC and, with a unigram model, StaticAC).

One stream per document, its symbols ending in EOS; the model sees the document's own history.
Decoding runs all documents in lockstep, one symbol per step, since the model needs the prefix
(through a decode session: M1 keeps a KV cache).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from compressor import coder
from compressor.contexts import open_session
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


def decode_documents(
    streams: Sequence[bytes], model: ByteModel, progress: Progress | None = None
) -> list[np.ndarray | StreamDecodeError]:
    """Each stream -> its document's symbols (ending in EOS), or the error that stopped it."""
    n = len(streams)
    results: list[np.ndarray | StreamDecodeError | None] = [None] * n
    decoders = [coder.RangeDecoder(s, model.precision) for s in streams]
    limits = np.array([max_symbols(len(s), model.precision) for s in streams], dtype=np.int64)
    history = [bytearray() for _ in range(n)]
    session = open_session(model, n)
    live = np.arange(n)
    step = np.empty(n, dtype=np.int32)
    while live.size:
        table, rows = session.next_cdfs(live)
        cdfs = table[rows]
        for i, d in enumerate(live.tolist()):
            try:
                decoders[d].decode_cdfs(cdfs[i : i + 1], step[i : i + 1])
            except ValueError as exc:
                results[d], step[i] = StreamDecodeError(f"document {d}: {exc}"), -1
        got = step[: live.size]
        grows = got >= 0
        grows[grows] = got[grows] != EOS
        for d, s in zip(live[grows].tolist(), got[grows].tolist(), strict=True):
            history[d].append(s)
        session.append(live[grows], got[grows])
        if model.segment:  # the model's context starts afresh every `segment` symbols
            session.reset(live[grows][visible_lengths(history, live[grows]) % model.segment == 0])
        for d in live[got == EOS].tolist():
            results[d] = np.append(np.frombuffer(history[d], np.uint8), EOS).astype(np.int32)
        runaway = live[grows & (visible_lengths(history, live) >= limits[live])]
        for d in runaway.tolist():
            results[d] = StreamDecodeError(f"document {d}: no EOS within {limits[d]} symbols")
        if progress is not None:
            progress(int(live.size))
        live = live[grows & ~np.isin(live, runaway)]
    return results  # type: ignore[return-value]


def visible_lengths(history: list[bytearray], live: np.ndarray) -> np.ndarray:
    return np.fromiter((len(history[d]) for d in live.tolist()), dtype=np.int64, count=live.size)
