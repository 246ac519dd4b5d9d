"""Coding methods as tokenizers: documents -> fixed-size tokens -> documents, exactly.

EqualInfoAC packs b-bit windows into t-bit tokens (windows and tokens may straddle when t does
not divide b).  AC codes each example as one stream (StaticAC is AC with a unigram model).  Both
code a document longer than an example in parts (compressor/examples.py).
Decoding checks that the tokens are exactly what the encoder would write, so corrupted or
padded streams are reported instead of silently decoding to something else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from compressor import arithmetic, equal_info, examples
from compressor.models import EOS, ByteModel, symbols_of
from compressor.tokens import TokenError, bits_to_tokens, check_token_bits, tokens_to_bytes

Progress = Callable[[int], None]


class DecodeError(ValueError):
    """Tokens that do not decode to a document."""


@dataclass
class Encoded:
    """One document's tokens and what it cost."""

    tokens: np.ndarray  # int32 token ids
    coded_bits: int  # bits of the coded streams before token padding
    ideal_bits: float  # sum of -log2 of the coded symbols' quantised probabilities
    windows: int  # Equal-Info windows (0 for plain AC)
    examples: int = 1  # parts coded on their own (compressor/examples.py)


@dataclass
class Prefix:
    """What the start of an id sequence decodes to, when the whole may not (M2's samples rarely
    end exactly at a document's end)."""

    text: bytes  # the bytes that decode
    ids_used: int  # how many of the ids they come from
    ended: bool  # the ids reach the document's end (EOS)
    note: str | None = None  # why decoding stops before the last id, or that the document goes on


def document_of(symbols: np.ndarray) -> bytes:
    """The bytes of one part's symbols (which end in EOS)."""
    return symbols[:-1].astype(np.uint8).tobytes()


def _bounds(owner: np.ndarray, n_docs: int) -> np.ndarray:
    """Document i's parts are parts[bounds[i]:bounds[i + 1]] (owner is sorted)."""
    return np.searchsorted(owner, np.arange(n_docs + 1))


def join_parts(i: int, symbols: np.ndarray | ValueError, example_bytes: int) -> bytes | DecodeError:
    """A document from its decoded symbols (parts, each ending in EOS), if they are canonical."""
    if isinstance(symbols, ValueError):
        return DecodeError(str(symbols))
    if symbols.size == 0 or symbols[-1] != EOS:
        return DecodeError(f"document {i}: decoded symbols do not end in EOS")
    ends = np.flatnonzero(symbols == EOS)
    error = split_error(i, (np.diff(np.concatenate([[-1], ends])) - 1).tolist(), example_bytes)
    return error or symbols[symbols != EOS].astype(np.uint8).tobytes()


def split_error(i: int, lengths: list[int], example_bytes: int) -> DecodeError | None:
    """The error for document i whose parts have these lengths, if they are not the canonical split."""
    bad = examples.misplaced_part(lengths, example_bytes)
    if bad is None:
        return None
    return DecodeError(
        f"document {i}: part {bad} of {len(lengths)} holds {lengths[bad]} bytes; every part but the last "
        f"holds exactly {example_bytes} (the canonical split)"
    )


class EqualInfoAC:
    """Equal-Info Windows of `window_bits` bits, cut into `token_bits`-bit tokens.  A document
    longer than `example_bytes` is coded as parts in parallel lanes, their windows in order."""

    name = "equal_info_ac"

    def __init__(
        self, model: ByteModel, window_bits: int, token_bits: int, example_bytes: int = examples.EXAMPLE_BYTES
    ):
        equal_info.check_window_bits(window_bits, model.precision)
        check_token_bits(token_bits)
        examples.check_size(example_bytes)
        self.model, self.window_bits, self.token_bits = model, window_bits, token_bits
        self.example_bytes = example_bytes

    @property
    def vocab_size(self) -> int:
        return 1 << self.token_bits

    def encode_batch(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Encoded]:
        parts, owner = examples.split(docs, self.example_bytes)
        coded = equal_info.encode_documents(
            [symbols_of(p) for p in parts], self.model, self.window_bits, progress=progress
        )
        bounds = _bounds(owner, len(docs))
        out = []
        for a, b in itertools.pairwise(bounds.tolist()):
            values = np.concatenate([w.values for w in coded[a:b]])
            nbits = values.shape[0] * self.window_bits
            tokens = bits_to_tokens(values.tobytes(), nbits, self.token_bits)
            out.append(Encoded(tokens, nbits, sum(w.ideal_bits for w in coded[a:b]), values.shape[0], b - a))
        return out

    def decode_batch(self, tokens: Sequence[np.ndarray], progress: Progress | None = None) -> list[bytes | DecodeError]:
        nb = self.window_bits // 8
        windows, errors = [], {}
        for i, t in enumerate(tokens):
            try:
                data = tokens_to_bytes(t, self.token_bits)
            except TokenError as exc:
                errors[i] = DecodeError(f"document {i}: {exc}")
                data = b""
            count = len(data) // nb
            if i not in errors and len(t) != -(-count * self.window_bits // self.token_bits):
                errors[i] = DecodeError(f"document {i}: {len(t)} tokens is not a whole number of windows")
            elif i not in errors and any(data[count * nb :]):
                errors[i] = DecodeError(f"document {i}: padding bits after the last window are not zero")
            windows.append(np.frombuffer(data[: count * nb] if i not in errors else b"", np.uint8).reshape(-1, nb))
        decoded = equal_info.decode_documents(windows, self.model, self.window_bits, progress=progress)
        return [errors.get(i) or join_parts(i, r, self.example_bytes) for i, r in enumerate(decoded)]

    def decode_prefix(self, tokens: np.ndarray) -> Prefix:
        """Window by window, each on its own, up to the document's end: the windows of a full part
        (example_bytes) lead on to the next part, a shorter part's EOS ends the document."""
        tokens = np.asarray(tokens)
        bad = np.flatnonzero((tokens < 0) | (tokens >= self.vocab_size))
        usable = tokens[: bad[0]] if bad.size else tokens
        nb = self.window_bits // 8
        data = tokens_to_bytes(usable, self.token_bits)
        values = np.frombuffer(data[: len(data) // nb * nb], np.uint8).reshape(-1, nb)
        text, part = bytearray(), 0
        for windows, w in enumerate(equal_info.decode_windows(values, self.model, self.window_bits), 1):
            body = w[w != EOS]
            text += body.astype(np.uint8).tobytes()
            part += body.size
            if w.size and w[-1] == EOS:
                if part < self.example_bytes:
                    used = -(-windows * self.window_bits // self.token_bits)
                    rest = values.shape[0] - windows
                    note = f"{rest} window(s) after the document's end" if rest else None
                    return Prefix(bytes(text), used, True, note)
                part = 0
        used = len(data) // nb * nb * 8 // self.token_bits
        note = f"id {bad[0]} = {tokens[bad[0]]} is outside the vocabulary" if bad.size else None
        return Prefix(bytes(text), used, False, note or "the ids end inside the document (no EOS yet)")


class ArithmeticCoding:
    """One arithmetic-coded stream per example, cut into `token_bits`-bit tokens.

    A document longer than `example_bytes` is several streams, each padded to whole tokens and
    ending in EOS.  Streams are prefix-free (compressor/csrc/range_coder.c), so a decoder reads
    one from the start of the rest of the tokens, whatever follows it, and re-encoding it tells
    where the next begins.
    """

    name = "ac"

    def __init__(self, model: ByteModel, token_bits: int, example_bytes: int = examples.EXAMPLE_BYTES):
        check_token_bits(token_bits)
        examples.check_size(example_bytes)
        self.model, self.token_bits, self.example_bytes = model, token_bits, example_bytes

    @property
    def vocab_size(self) -> int:
        return 1 << self.token_bits

    def _encode_part(self, part: bytes) -> tuple[np.ndarray, int, float]:
        data, nbits, ideal = arithmetic.encode_document(symbols_of(part), self.model)
        return bits_to_tokens(data, nbits, self.token_bits), nbits, ideal

    def encode_batch(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Encoded]:
        parts, owner = examples.split(docs, self.example_bytes)
        coded = []
        for p in parts:
            coded.append(self._encode_part(p))
            if progress is not None:
                progress(len(p) + 1)
        out = []
        for a, b in itertools.pairwise(_bounds(owner, len(docs)).tolist()):
            mine = coded[a:b]
            tokens = np.concatenate([c[0] for c in mine])
            out.append(Encoded(tokens, sum(c[1] for c in mine), sum(c[2] for c in mine), 0, b - a))
        return out

    def decode_batch(self, tokens: Sequence[np.ndarray], progress: Progress | None = None) -> list[bytes | DecodeError]:
        """Every document's next part in lockstep, round after round, until its tokens run out."""
        ids = [np.asarray(t) for t in tokens]
        results: list[bytes | DecodeError | None] = [None] * len(ids)
        parts: list[list[bytes]] = [[] for _ in ids]
        offset = np.zeros(len(ids), dtype=np.int64)
        for i, t in enumerate(ids):
            try:
                tokens_to_bytes(t, self.token_bits)
            except TokenError as exc:
                results[i] = DecodeError(f"document {i}: {exc}")
        live = [i for i in range(len(ids)) if results[i] is None]
        while live:
            streams = [tokens_to_bytes(ids[i][offset[i] :], self.token_bits) for i in live]
            decoded = arithmetic.decode_documents(streams, self.model, progress=progress)
            still = []
            for i, r in zip(live, decoded, strict=True):
                if isinstance(r, ValueError):
                    reason = str(r).split(": ", 1)[-1]  # arithmetic's message names the lane, not the document
                    results[i] = DecodeError(f"document {i} part {len(parts[i])}: {reason}")
                    continue
                part = document_of(r)
                again, _, _ = self._encode_part(part)  # canonical form: exactly the tokens handed in
                if not np.array_equal(again, ids[i][offset[i] : offset[i] + again.size]):
                    results[i] = DecodeError(
                        f"document {i}: tokens differ from the canonical encoding (trailing, padded or altered bits)"
                    )
                    continue
                parts[i].append(part)
                offset[i] += again.size
                if offset[i] < ids[i].size:
                    still.append(i)
            live = still
        for i in range(len(ids)):
            if results[i] is None:
                error = split_error(i, [len(p) for p in parts[i]], self.example_bytes)
                results[i] = error or b"".join(parts[i])
        return results  # type: ignore[return-value]

    def decode_prefix(self, tokens: np.ndarray) -> Prefix:
        """Part after part until one does not decode or the document ends."""
        tokens = np.asarray(tokens)
        text, offset = bytearray(), 0
        while offset < tokens.size:
            try:
                stream = tokens_to_bytes(tokens[offset:], self.token_bits)
            except TokenError as exc:
                return Prefix(bytes(text), offset, False, str(exc))
            [r] = arithmetic.decode_documents([stream], self.model)
            if isinstance(r, arithmetic.StreamDecodeError):
                reason = str(r).split(": ", 1)[-1]
                return Prefix(bytes(text + r.symbols), tokens.size, False, f"the stream stops decoding: {reason}")
            part = document_of(r)
            text += part
            offset += self._encode_part(part)[0].size
            if len(part) < self.example_bytes:
                note = f"{tokens.size - offset} id(s) after the document's end" if offset < tokens.size else None
                return Prefix(bytes(text), offset, True, note)
        return Prefix(bytes(text), offset, False, "the ids end inside the document (no EOS yet)")
