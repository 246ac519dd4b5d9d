"""Document parts: the paper codes text in examples of at most 10,240 bytes, each on its own.

A document longer than an example is coded as consecutive parts, each a stream of its own that
ends in EOS, concatenated in order.  Parts are the lanes of the batched coders: one long
document codes in parallel instead of symbol after symbol.  The split is canonical (every part
but the last holds exactly `size` bytes), which is what lets a decoder rejoin parts exactly and
reject any other split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compressor.codecs.results import DecodeError
from compressor.models.base import EOS

EXAMPLE_BYTES = 10_240  # the paper's example size


def check_size(size: int) -> None:
    if size < 1:
        raise ValueError(f"example size must be at least 1 byte, got {size}")


def count(nbytes: int, size: int = EXAMPLE_BYTES) -> int:
    """Parts of a document of nbytes (an empty document is one empty part)."""
    return max(1, -(-nbytes // size))


def split(docs: Sequence[bytes], size: int = EXAMPLE_BYTES) -> tuple[list[bytes], np.ndarray]:
    """(every document's parts in order, the document each part belongs to)."""
    check_size(size)
    parts: list[bytes] = []
    owner: list[int] = []
    for i, d in enumerate(docs):
        n = count(len(d), size)
        parts.extend(d[j * size : (j + 1) * size] for j in range(n))
        owner.extend([i] * n)
    return parts, np.asarray(owner, dtype=np.int64)


def misplaced_part(lengths: Sequence[int], size: int = EXAMPLE_BYTES) -> int | None:
    """Index of the first part that breaks the canonical split, or None.  Canonical: every part
    but the last holds exactly `size` bytes, the last 1..size (0..size when it is the only one)."""
    for j, n in enumerate(lengths):
        last = j == len(lengths) - 1
        if n > size or (not last and n != size) or (last and j > 0 and n == 0):
            return j
    return None


def document_of(symbols: np.ndarray) -> bytes:
    """The bytes of one part's symbols (which end in EOS)."""
    return symbols[:-1].astype(np.uint8).tobytes()


def bounds(owner: np.ndarray, n_docs: int) -> np.ndarray:
    """Document i's parts are parts[bounds[i]:bounds[i + 1]] (owner is sorted)."""
    return np.searchsorted(owner, np.arange(n_docs + 1))


def join(i: int, symbols: np.ndarray | ValueError, example_bytes: int) -> bytes | DecodeError:
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
    bad = misplaced_part(lengths, example_bytes)
    if bad is None:
        return None
    return DecodeError(
        f"document {i}: part {bad} of {len(lengths)} holds {lengths[bad]} bytes; every part but the last "
        f"holds exactly {example_bytes} (the canonical split)"
    )
