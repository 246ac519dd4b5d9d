"""Equal-Info Windows over whole documents: many documents in lockstep.

Encoding, for a model with a session (M1's KV cache), feeds one symbol per document per step and
the C WindowEncoder places it or closes the window before it; for other models, each step asks
for candidate spans of every active document at once (one batched `predict` over window-local
contexts) and the C coder decides where each window ends.  Both write the same windows.
Decoding runs one symbol per step for every active window, since the model needs the decoded
prefix.  Windows are b bits each; a document's symbols end with EOS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from compressor.codecs.lanes import Lanes
from compressor.codecs.sessions import DecodeSession, open_session
from compressor.coder import native as coder
from compressor.models.base import ALPHABET, EOS, ByteModel

WINDOW_BITS = (16, 24, 32, 64, 128)
STEP_CODED, STEP_CLOSED, STEP_LAST = 0, 1, 2  # WindowEncoder.step's status per symbol

Progress = Callable[[int], None]


class WindowDecodeError(ValueError):
    """A document's windows do not decode to one complete document."""


def check_window_bits(window_bits: int, precision: int) -> None:
    if window_bits not in WINDOW_BITS:
        raise ValueError(f"window bits must be one of {WINDOW_BITS}, got {window_bits}")
    if window_bits < precision:
        raise ValueError(
            f"window bits {window_bits} < precision {precision}: a window could not hold every first symbol"
        )


@dataclass
class DocumentWindows:
    """One document's Equal-Info windows."""

    values: np.ndarray  # uint8 [W, window_bits // 8], each window's b bits, big-endian
    symbols: np.ndarray  # int32 [W], symbols coded in each window
    ideal_bits: float  # sum of -log2 of the coded symbols' quantised probabilities


@dataclass
class _Flat:
    """Documents concatenated, for vectorised slicing."""

    symbols: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def of(cls, docs: Sequence[np.ndarray]) -> _Flat:
        for i, d in enumerate(docs):
            if d.size == 0 or d[-1] != EOS or (d[:-1] == EOS).any() or d.min() < 0 or d.max() > EOS:
                raise ValueError(f"document {i}: symbols must be bytes 0..255 followed by exactly one EOS")
        lengths = np.array([d.size for d in docs], dtype=np.int64)
        ends = np.cumsum(lengths)
        flat = np.concatenate(docs).astype(np.int32) if docs else np.zeros(0, np.int32)
        return cls(flat, ends - lengths, ends)


def encode_documents(
    docs: Sequence[np.ndarray],
    model: ByteModel,
    window_bits: int,
    greedy: bool = False,
    progress: Progress | None = None,
    incremental: bool | None = None,
) -> list[DocumentWindows]:
    """Each document's symbols (ending in EOS) -> its windows.

    greedy=True uses the paper's ambiguous rule (for measuring the exact rule's cost only:
    its windows cannot be decoded reliably).  A model with a decode session (M1's KV cache) is
    fed one symbol per step instead of candidate spans (`incremental`; None: where it has one):
    the same windows, with each position computed once.
    """
    check_window_bits(window_bits, model.precision)
    if incremental is None:
        incremental = hasattr(model, "session") and not greedy
    if incremental and greedy:
        raise ValueError("the incremental encoder implements the exact rule only")
    if incremental:
        return _encode_incremental(docs, model, window_bits, progress)
    flat = _Flat.of(docs)
    pos = flat.starts.copy()
    span = np.full(len(docs), max(8, window_bits // 2), dtype=np.int64)  # candidate symbols per window
    values: list[list[np.ndarray]] = [[] for _ in docs]
    counts: list[list[int]] = [[] for _ in docs]
    ideal = np.zeros(len(docs))
    active = np.flatnonzero(pos < flat.ends)
    while active.size:
        lengths = np.minimum(span[active], flat.ends[active] - pos[active])
        k = int(lengths.max())
        offs = np.arange(k)
        valid = offs[None, :] < lengths[:, None]
        syms = np.where(valid, flat.symbols[np.where(valid, pos[active, None] + offs[None, :], 0)], 0)
        table, rows = model.predict(np.minimum(syms, 255))
        rows = rows[:, :k]
        consumed, vals = coder.encode_windows(table, rows, syms, lengths, window_bits, model.precision, EOS, greedy)
        done = consumed > 0
        # Candidates for the next window: this one's length and half again (measured with M1:
        # 20% faster than twice, retries included); a window that needs more doubles and retries.
        span[active[~done]] *= 2
        span[active[done]] = consumed[done] + np.maximum(4, consumed[done] // 2)
        coded = offs[None, :] < consumed[:, None]
        freq = (table[rows, syms + 1] - table[rows, syms])[coded]
        ideal[active] += np.bincount(
            np.repeat(np.arange(active.size), consumed), model.precision - np.log2(freq), minlength=active.size
        )
        pos[active[done]] += consumed[done]
        for i in np.flatnonzero(done):
            values[active[i]].append(vals[i])
            counts[active[i]].append(int(consumed[i]))
        if progress is not None:
            progress(int(consumed.sum()))
        active = active[pos[active] < flat.ends[active]]
    nb = window_bits // 8
    return _document_windows(values, counts, ideal, nb)


def _document_windows(
    values: list[list[np.ndarray]], counts: list[list[int]], ideal: np.ndarray, nb: int
) -> list[DocumentWindows]:
    return [
        DocumentWindows(np.array(v, dtype=np.uint8).reshape(-1, nb), np.array(c, dtype=np.int32), float(b))
        for v, c, b in zip(values, counts, ideal, strict=True)
    ]


def _encode_incremental(
    docs: Sequence[np.ndarray], model: ByteModel, window_bits: int, progress: Progress | None
) -> list[DocumentWindows]:
    """encode_documents one symbol per step: every active document's next CDF from the session,
    then the C window encoder places the symbol, or closes the window before it.  A closed
    window may hold fewer symbols than were fed to it (it ends at the deepest node that keeps a
    value): the symbols after it open the next window, seen from a fresh context.

    At most `model.lanes` documents are active at once, where the model sets it (compressor/codecs/lanes.py).
    """
    flat = _Flat.of(docs)
    n, nb = len(docs), window_bits // 8
    pos = flat.starts.copy()
    window_start = flat.starts.copy()
    bits_at = np.zeros(flat.symbols.size)  # each fed symbol's -log2 p in its current window
    session = open_session(model, n)
    encoder = coder.WindowEncoder(max(1, n), window_bits, model.precision, ALPHABET, EOS)
    lanes = Lanes(flat.ends - flat.starts, getattr(model, "lanes", None), encoder.start)
    values: list[list[np.ndarray]] = [[] for _ in docs]
    counts: list[list[int]] = [[] for _ in docs]
    ideal = np.zeros(n)
    status = np.empty(n, dtype=np.int32)
    lengths = np.empty(n, dtype=np.int32)
    out = np.empty((n, nb), dtype=np.uint8)
    while lanes:
        active = lanes.live
        table, rows = session.next_cdfs(active)
        syms = flat.symbols[pos[active]]
        st, vals, lens = status[: active.size], out[: active.size], lengths[: active.size]
        encoder.step(active, table, np.ascontiguousarray(rows, dtype=np.int32), syms, st, vals, lens)
        coded = st != STEP_CLOSED
        freq = table[rows[coded], syms[coded] + 1] - table[rows[coded], syms[coded]]
        bits_at[pos[active[coded]]] = model.precision - np.log2(freq)
        pos[active[coded]] += 1
        grows = st == STEP_CODED
        session.append(active[grows], syms[grows])
        closed = np.flatnonzero(~grows)
        for i in closed:
            d, length = active[i], int(lens[i])
            values[d].append(vals[i].copy())
            counts[d].append(length)
            ideal[d] += bits_at[window_start[d] : window_start[d] + length].sum()
            window_start[d] += length
        pos[active[closed]] = window_start[active[closed]]
        if progress is not None:
            progress(int(lens[closed].sum()))
        session.reset(active[closed])  # a fresh context for the next window; a finished document's is freed
        reopen = active[st == STEP_CLOSED]
        if reopen.size:
            encoder.start(reopen)
        lanes.keep(st != STEP_LAST)
    return _document_windows(values, counts, ideal, nb)


def decode_documents(
    windows: Sequence[np.ndarray],
    model: ByteModel,
    window_bits: int,
    progress: Progress | None = None,
) -> list[np.ndarray | WindowDecodeError]:
    """Each document's windows -> its symbols, or the error that stopped it.

    A document's windows hold one or more parts (compressor/codecs/parts.py), each ending in EOS: a
    window after the one holding EOS starts the next part.  The symbols returned are every
    part's, EOS included; the last window must hold an EOS.
    """
    check_window_bits(window_bits, model.precision)
    nb = window_bits // 8
    n_docs = len(windows)
    if n_docs == 0:
        return []
    counts = np.array([w.shape[0] for w in windows], dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat = np.concatenate([np.asarray(w, dtype=np.uint8).reshape(-1, nb) for w in windows])
    results: list[np.ndarray | WindowDecodeError | None] = [None] * n_docs
    for d in np.flatnonzero(counts == 0):
        results[d] = WindowDecodeError(f"document {d}: no windows")
    decoder = coder.WindowDecoder(n_docs, window_bits, model.precision, ALPHABET, EOS)
    lanes = Lanes(counts, getattr(model, "lanes", None), lambda d: decoder.start(d, flat[first[d]]), skip=counts == 0)
    next_window = np.ones(n_docs, dtype=np.int64)
    session = open_session(model, n_docs)
    # Every decoded symbol, in order, as (document, symbol).
    steps_docs, steps_syms = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
    out = np.empty(n_docs, dtype=np.int32)
    while lanes:
        live = lanes.live
        step = _decode_step(session, decoder, live, out)
        got = step >= 0
        steps_docs.append(live[got])
        steps_syms.append(step[got].copy())
        grows = got & (step != EOS)
        session.append(live[grows], step[grows])
        ended = live[~grows]  # windows that closed: at a node's own value, or with EOS
        last = next_window[ended] >= counts[ended]
        truncated = ended[last & (step[~grows] < 0)]
        for d in truncated:
            results[d] = WindowDecodeError(f"document {d}: windows end before EOS (truncated stream)")
        session.reset(ended)
        reopen = ended[~last]
        if reopen.size:
            decoder.start(reopen, flat[first[reopen] + next_window[reopen]])
            next_window[reopen] += 1
        if progress is not None:
            progress(int(got.sum()))
        lanes.keep(grows | ~np.isin(live, ended[last]))
    docs_all, syms_all = np.concatenate(steps_docs), np.concatenate(steps_syms)
    order = np.argsort(docs_all, kind="stable")
    bounds = np.searchsorted(docs_all[order], np.arange(n_docs + 1))
    for d in range(n_docs):
        if results[d] is None:
            results[d] = syms_all[order[bounds[d] : bounds[d + 1]]].astype(np.int32)
    return results  # type: ignore[return-value]


def decode_windows(values: np.ndarray, model: ByteModel, window_bits: int) -> list[np.ndarray]:
    """Every window's symbols, each window on its own (the coder and the model restart at every
    window, so windows decode independently, in parallel lanes): for showing what any stream of
    windows says, a document's end (EOS) or not."""
    check_window_bits(window_bits, model.precision)
    n = values.shape[0]
    out: list[list[int]] = [[] for _ in range(n)]
    if not n:
        return []
    decoder = coder.WindowDecoder(n, window_bits, model.precision, ALPHABET, EOS)
    lanes = Lanes(np.ones(n, dtype=np.int64), getattr(model, "lanes", None), lambda w: decoder.start(w, values[w]))
    session = open_session(model, n)
    step = np.empty(n, dtype=np.int32)
    while lanes:
        live = lanes.live
        got = _decode_step(session, decoder, live, step)
        for d, s in zip(live[got >= 0].tolist(), got[got >= 0].tolist(), strict=True):
            out[d].append(s)
        grows = (got >= 0) & (got != EOS)
        session.append(live[grows], got[grows])
        session.reset(live[~grows])
        lanes.keep(grows)
    return [np.array(w, dtype=np.int32) for w in out]


def _decode_step(session: DecodeSession, decoder: coder.WindowDecoder, live: np.ndarray, out: np.ndarray) -> np.ndarray:
    """One lockstep step: each live window's next symbol, -1 where the window has ended (a view of out)."""
    table, rows = session.next_cdfs(live)
    step = out[: live.size]
    decoder.step(live, table, np.ascontiguousarray(rows, dtype=np.int32), step)
    return step
