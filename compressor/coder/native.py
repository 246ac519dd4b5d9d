"""The C coder's Python face: allocation, dtype conversion and the documented entry points.

Everything that codes symbols goes through `compressor.coder._coder`; this module only shapes
arrays for it.  The pure-Python twin used as a test oracle is `reference_coder`.
"""

from __future__ import annotations

import numpy as np

from compressor.coder import _coder
from compressor.coder._coder import RangeDecoder, RangeEncoder, WindowDecoder, WindowEncoder

__all__ = [
    "DEFAULT_PRECISION",
    "RangeDecoder",
    "RangeEncoder",
    "WindowDecoder",
    "WindowEncoder",
    "check_cdfs",
    "encode_windows",
    "quantize",
]

DEFAULT_PRECISION = 14  # the paper's: every symbol gets at least 2^-14


def quantize(probs: np.ndarray, precision: int = DEFAULT_PRECISION) -> np.ndarray:
    """Float probabilities [..., n] -> int32 CDFs [..., n+1] (0 .. 2^precision, every step >= 1).

    Rows need not sum to one; they are normalised in a fixed summation order, so the result
    depends only on the float32 values given, never on batch shape or thread count.
    """
    p = np.ascontiguousarray(probs, dtype=np.float32)
    if p.ndim == 0:
        raise ValueError("probs must have at least one dimension")
    flat = p.reshape(-1, p.shape[-1])
    out = np.empty((flat.shape[0], flat.shape[1] + 1), dtype=np.int32)
    _coder.quantize(flat, out, precision)
    return out.reshape(*p.shape[:-1], p.shape[-1] + 1)


def check_cdfs(cdfs: np.ndarray, precision: int = DEFAULT_PRECISION) -> None:
    """Raises ValueError naming the first row that is not a valid CDF of total 2^precision."""
    c = np.ascontiguousarray(cdfs, dtype=np.int32)
    _coder.check_cdfs(c.reshape(-1, c.shape[-1]), precision)


def encode_windows(
    table: np.ndarray,
    rows: np.ndarray,
    symbols: np.ndarray,
    lengths: np.ndarray,
    window_bits: int,
    precision: int,
    terminal: int,
    greedy: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One Equal-Info window per batch row -> (consumed [B], values [B, window_bits // 8]).

    Symbol j of row i is coded with table[rows[i, j]]; consumed[i] is 0 when all lengths[i]
    symbols fit and the window could take more.
    """
    batch = symbols.shape[0]
    consumed = np.empty(batch, dtype=np.int32)
    values = np.empty((batch, window_bits // 8), dtype=np.uint8)
    _coder.encode_windows(
        np.ascontiguousarray(table, dtype=np.int32),
        np.ascontiguousarray(rows, dtype=np.int32),
        np.ascontiguousarray(symbols, dtype=np.int32),
        np.ascontiguousarray(lengths, dtype=np.int32),
        consumed,
        values,
        window_bits,
        precision,
        terminal,
        greedy,
    )
    return consumed, values
