"""Bitstreams <-> fixed-size tokens.

A coded stream is a byte string plus its length in bits; tokens are consecutive `token_bits`
chunks of it (big-endian), the last one padded with zero bits.  8-bit tokens give a 256-word
vocabulary, 16-bit tokens 65,536.
"""

from __future__ import annotations

import numpy as np

TOKEN_BITS = (8, 16)


class TokenError(ValueError):
    """A token sequence that no encoder could have produced."""


def check_token_bits(token_bits: int) -> None:
    if token_bits not in TOKEN_BITS:
        raise ValueError(f"token bits must be one of {TOKEN_BITS}, got {token_bits}")


def bits_to_tokens(data: bytes, nbits: int, token_bits: int) -> np.ndarray:
    """The first `nbits` bits of `data` as int32 tokens (zero-padded to whole tokens)."""
    check_token_bits(token_bits)
    ntok = -(-nbits // token_bits)
    raw = np.frombuffer(data[: -(-nbits // 8)], dtype=np.uint8)
    buf = np.zeros(ntok * token_bits // 8, dtype=np.uint8)
    buf[: raw.size] = raw
    if nbits % 8:
        buf[nbits // 8] &= (0xFF << (8 - nbits % 8)) & 0xFF
    if token_bits == 8:
        return buf.astype(np.int32)
    return buf.view(">u2").astype(np.int32)


def tokens_to_bytes(tokens: np.ndarray, token_bits: int) -> bytes:
    """Inverse of bits_to_tokens (without the padding length): checks every token's range."""
    check_token_bits(token_bits)
    arr = np.asarray(tokens)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TokenError("tokens must be a 1-D sequence of integers")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= 1 << token_bits))
    if bad.size:
        raise TokenError(f"token {bad[0]} = {arr[bad[0]]} is outside 0..{(1 << token_bits) - 1}")
    return arr.astype(">u2" if token_bits == 16 else np.uint8).tobytes()
