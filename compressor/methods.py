"""Coding methods as tokenizers: documents -> fixed-size tokens -> documents, exactly.

EqualInfoAC packs b-bit windows into t-bit tokens (windows and tokens may straddle when t does
not divide b).  AC codes each document as one stream (StaticAC is AC with a unigram model).
Decoding checks that the tokens are exactly what the encoder would write, so corrupted or
padded streams are reported instead of silently decoding to something else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from compressor import arithmetic, equal_info
from compressor.models import EOS, ByteModel, symbols_of
from compressor.tokens import TokenError, bits_to_tokens, check_token_bits, tokens_to_bytes

Progress = Callable[[int], None]


class DecodeError(ValueError):
    """Tokens that do not decode to a document."""


@dataclass
class Encoded:
    """One document's tokens and what it cost."""

    tokens: np.ndarray  # int32 token ids
    coded_bits: int  # bits of the coded stream before token padding
    ideal_bits: float  # sum of -log2 of the coded symbols' quantised probabilities
    windows: int  # Equal-Info windows (0 for plain AC)


def document_of(symbols: np.ndarray) -> bytes:
    return symbols[:-1].astype(np.uint8).tobytes()


class EqualInfoAC:
    """Equal-Info Windows of `window_bits` bits, cut into `token_bits`-bit tokens."""

    name = "equal_info_ac"

    def __init__(self, model: ByteModel, window_bits: int, token_bits: int):
        equal_info.check_window_bits(window_bits, model.precision)
        check_token_bits(token_bits)
        self.model, self.window_bits, self.token_bits = model, window_bits, token_bits

    @property
    def vocab_size(self) -> int:
        return 1 << self.token_bits

    def encode_batch(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Encoded]:
        coded = equal_info.encode_documents(
            [symbols_of(d) for d in docs], self.model, self.window_bits, progress=progress
        )
        out = []
        for w in coded:
            nbits = w.values.shape[0] * self.window_bits
            out.append(
                Encoded(
                    bits_to_tokens(w.values.tobytes(), nbits, self.token_bits), nbits, w.ideal_bits, w.values.shape[0]
                )
            )
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
        return [errors.get(i) or _document_or_error(i, r) for i, r in enumerate(decoded)]


class ArithmeticCoding:
    """One arithmetic-coded stream per document, cut into `token_bits`-bit tokens."""

    name = "ac"

    def __init__(self, model: ByteModel, token_bits: int):
        check_token_bits(token_bits)
        self.model, self.token_bits = model, token_bits

    @property
    def vocab_size(self) -> int:
        return 1 << self.token_bits

    def encode_batch(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Encoded]:
        out = []
        for d in docs:
            data, nbits, ideal = arithmetic.encode_document(symbols_of(d), self.model)
            out.append(Encoded(bits_to_tokens(data, nbits, self.token_bits), nbits, ideal, 0))
            if progress is not None:
                progress(len(d) + 1)
        return out

    def decode_batch(self, tokens: Sequence[np.ndarray], progress: Progress | None = None) -> list[bytes | DecodeError]:
        streams, errors = [], {}
        for i, t in enumerate(tokens):
            try:
                streams.append(tokens_to_bytes(t, self.token_bits))
            except TokenError as exc:
                errors[i] = DecodeError(f"document {i}: {exc}")
                streams.append(b"")
        decoded = arithmetic.decode_documents(streams, self.model, progress=progress)
        results = [errors.get(i) or _document_or_error(i, r) for i, r in enumerate(decoded)]
        # Canonical form: re-encoding must give back exactly the tokens we were handed.
        for i, r in enumerate(results):
            if isinstance(r, bytes):
                again = self.encode_batch([r])[0].tokens
                if not np.array_equal(again, np.asarray(tokens[i])):
                    results[i] = DecodeError(
                        f"document {i}: tokens differ from the canonical encoding (trailing, padded or altered bits)"
                    )
        return results


def _document_or_error(i: int, r: np.ndarray | ValueError) -> bytes | DecodeError:
    if isinstance(r, ValueError):
        return DecodeError(str(r))
    if r.size == 0 or r[-1] != EOS:
        return DecodeError(f"document {i}: decoded symbols do not end in EOS")
    return document_of(r)
