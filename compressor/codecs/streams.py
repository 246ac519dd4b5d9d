"""Plain arithmetic coding of whole documents (the paper's AC and, with a unigram model, StaticAC).

One stream per document, its symbols ending in EOS; the model sees the document's own history.
Decoding runs the documents in lockstep lanes, one symbol per step, since the model needs the
prefix (through a decode session: M1 keeps a KV cache).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from compressor.codecs.lanes import Lanes
from compressor.codecs.sessions import open_session
from compressor.coder import native as coder
from compressor.models.base import EOS, ByteModel

Progress = Callable[[int], None]
SLACK_BITS = 1e-6  # float rounding in the decoder's running sum of symbol costs


class StreamDecodeError(ValueError):
    """A stream that does not decode to one complete document; `symbols` holds what decoded
    before the problem (for showing the start of a sampled stream)."""

    def __init__(self, message: str, symbols: bytes = b""):
        super().__init__(message)
        self.symbols = symbols


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


def decode_documents(
    streams: Sequence[bytes], model: ByteModel, progress: Progress | None = None
) -> list[np.ndarray | StreamDecodeError]:
    """Each stream -> its document's symbols (ending in EOS), or the error that stopped it.

    Work is bounded by the streams' information: every interval the encoder narrows to is at
    most the product of its symbols' quantised probabilities, and a stream of k bits names a
    cell of width 2^-k inside the final one, so a valid stream's symbols cost at most k bits
    under the model.  A document whose decoded symbols cost more than its stream's bits, before
    EOS, is not a stream this coder wrote, and decoding it stops there: a random stream is
    rejected after about its length in bits over the model's entropy, not after 44 symbols a bit.
    """
    n = len(streams)
    results: list[np.ndarray | StreamDecodeError | None] = [None] * n
    decoders = [coder.RangeDecoder(s, model.precision) for s in streams]
    budget = np.array([8 * len(s) for s in streams], dtype=np.float64)
    spent = np.zeros(n)
    history = [bytearray() for _ in range(n)]
    session = open_session(model, n)
    lanes = Lanes(budget, getattr(model, "lanes", None))
    step = np.empty(n, dtype=np.int32)
    while lanes:
        live = lanes.live
        table, rows = session.next_cdfs(live)
        cdfs = table[rows]
        for i, d in enumerate(live.tolist()):
            try:
                decoders[d].decode_cdfs(cdfs[i : i + 1], step[i : i + 1])
            except ValueError as exc:
                results[d], step[i] = StreamDecodeError(f"document {d}: {exc}", bytes(history[d])), -1
        got = step[: live.size]
        ok = np.flatnonzero(got >= 0)
        spent[live[ok]] += model.precision - np.log2(cdfs[ok, got[ok] + 1] - cdfs[ok, got[ok]])
        grows = got >= 0
        grows[grows] = got[grows] != EOS
        for d, s in zip(live[grows].tolist(), got[grows].tolist(), strict=True):
            history[d].append(s)
        session.append(live[grows], got[grows])
        if model.segment:  # the model's context starts afresh every `segment` symbols
            session.reset(live[grows][visible_lengths(history, live[grows]) % model.segment == 0])
        for d in live[got == EOS].tolist():
            results[d] = np.append(np.frombuffer(history[d], np.uint8), EOS).astype(np.int32)
        runaway = live[grows & (spent[live] > budget[live] + SLACK_BITS)]
        for d in runaway.tolist():
            results[d] = StreamDecodeError(
                f"document {d}: no EOS within the stream's information: {len(history[d])} symbols "
                f"cost {spent[d]:.1f} bits under the model, more than its {int(budget[d])} bits",
                bytes(history[d]),
            )
        if progress is not None:
            progress(int(live.size))
        finished = ~grows | np.isin(live, runaway)
        session.reset(live[finished])
        lanes.keep(~finished)
    return results  # type: ignore[return-value]


def visible_lengths(history: list[bytearray], live: np.ndarray) -> np.ndarray:
    return np.fromiter((len(history[d]) for d in live.tolist()), dtype=np.int64, count=live.size)
