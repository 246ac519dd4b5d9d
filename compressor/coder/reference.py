"""Pure-Python twin of the C coder: the oracle the tests hold the extension to, bit for bit.

Written for clarity, not speed, and deliberately in a different formulation where the C code
splits numbers for speed: interval starts here are single big integers in fine units (2^-64 of a
grid point), where C keeps a 128-bit grid index plus a 64-bit fraction.
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from itertools import accumulate, pairwise

import numpy as np

MASK64 = (1 << 64) - 1
RANGE_MIN = 1 << 48
LANES = 16


class ReferenceCoderError(ValueError):
    """Raised where the C coder raises ValueError."""


# --------------------------------------------------------------------------------------------
# Quantisation


def quantize_row(p: np.ndarray, precision: int) -> list[int]:
    """float32 probabilities -> CDF, the same integers as the C quantize()."""
    p = np.asarray(p, dtype=np.float32)
    n = p.size
    if n < 2 or n > 1 << precision:
        raise ReferenceCoderError("alphabet size must be in 2..2^precision")
    bits = p.view(np.uint32)
    maxbits = int(bits.max())
    if maxbits >= 0x7F800000:
        raise ReferenceCoderError("probabilities must be finite, non-negative and not all zero")
    lane = [np.float32(0)] * LANES
    for i in range(n):
        lane[i % LANES] = np.float32(lane[i % LANES] + p[i])
    half = [float(lane[2 * j]) + float(lane[2 * j + 1]) for j in range(LANES // 2)]
    total = ((half[0] + half[1]) + (half[2] + half[3])) + ((half[4] + half[5]) + (half[6] + half[7]))
    if not total > 0.0:
        raise ReferenceCoderError("probabilities must be finite, non-negative and not all zero")
    argmax = int(np.flatnonzero(bits == maxbits)[0])
    budget = (1 << precision) - n
    pre = np.float32(2.0**64 if total < 2.0**-64 else 1.0)
    scale = np.float32(budget / (total * float(pre)))
    extras = [min(int((x * pre) * scale), budget) for x in p]
    used = sum(extras)
    if used > budget:
        raise ReferenceCoderError("probabilities must be finite, non-negative and not all zero")
    extras[argmax] += budget - used
    cdf = [0]
    for e in extras:
        cdf.append(cdf[-1] + 1 + e)
    return cdf


def check_cdf(cdf: list[int], precision: int) -> None:
    if cdf[0] != 0 or cdf[-1] != 1 << precision or any(b <= a for a, b in pairwise(cdf)):
        raise ReferenceCoderError("CDF must start at 0, increase strictly and end at 2^precision")


# --------------------------------------------------------------------------------------------
# Range coder


class RangeEncoder:
    def __init__(self, precision: int = 14):
        self.precision = precision
        self.low, self.range = 0, MASK64
        self.buf = bytearray()

    def _carry(self) -> None:
        i = len(self.buf) - 1
        while self.buf[i] == 0xFF:
            self.buf[i] = 0
            i -= 1
        self.buf[i] += 1

    def encode(self, cum: int, freq: int) -> None:
        total = 1 << self.precision
        if not (0 <= cum < total and 1 <= freq <= total - cum):
            raise ReferenceCoderError("symbol or interval out of range")
        r = self.range >> self.precision
        low = self.low + r * cum
        if low > MASK64:
            self._carry()
            low &= MASK64
        rng = r * freq
        if rng < RANGE_MIN:
            self.buf += bytes([low >> 56, (low >> 48) & 0xFF])
            low, rng = (low << 16) & MASK64, rng << 16
        self.low, self.range = low, rng

    def _tail(self) -> tuple[int, int]:
        for k in range(65):
            step = 1 << (64 - k)
            value = -(-self.low // step) * step
            if value + step <= self.low + self.range:  # the whole cell: any continuation decodes the same
                return k, value
        raise AssertionError("unreachable")

    @property
    def bits(self) -> int:
        return len(self.buf) * 8 + self._tail()[0]

    def finish(self) -> tuple[bytes, int]:
        k, value = self._tail()
        if value > MASK64:
            self._carry()
            value &= MASK64
        nbits = len(self.buf) * 8 + k
        self.buf += value.to_bytes(8, "big")[: (k + 7) // 8]
        data = bytes(self.buf)
        self.buf.clear()
        self.low, self.range = 0, MASK64
        return data, nbits


class RangeDecoder:
    def __init__(self, data: bytes, precision: int = 14):
        self.data, self.pos, self.precision = bytes(data), 0, precision
        self.x = 0
        for _ in range(4):
            self.x = (self.x << 16) | self._word()
        self.range = MASK64

    def _word(self) -> int:
        hi = self.data[self.pos] if self.pos < len(self.data) else 0
        lo = self.data[self.pos + 1] if self.pos + 1 < len(self.data) else 0
        self.pos += 2
        return (hi << 8) | lo

    def decode(self, cdf) -> int:
        cdf = [int(c) for c in cdf]
        r = self.range >> self.precision
        q = self.x // r
        if q >= 1 << self.precision:
            raise ReferenceCoderError("bitstream is not a valid encoding")
        check_cdf(cdf, self.precision)
        s = bisect_right(cdf, q) - 1
        self.x -= r * cdf[s]
        self.range = r * (cdf[s + 1] - cdf[s])
        if self.range < RANGE_MIN:
            self.x = (self.x << 16) | self._word()
            self.range <<= 16
        return s


# --------------------------------------------------------------------------------------------
# Equal-Info windows (see compressor/coder/csrc/equal_info.h for the rule)


class Interval:
    """A node's interval: [start, start + m * 2^e) in fine units of 2^-64 grid points."""

    def __init__(self, bits: int, precision: int):
        self.start, self.m, self.e, self.precision = 0, 1 << 63, bits + 1, precision

    def boundary(self, c: int) -> int:
        return (self.m * c) >> self.precision

    def first_grid(self, d: int) -> int:
        """Absolute index of the first grid point at or after start + d * 2^e."""
        return -(-(self.start + (d << self.e)) >> 64)

    def every_child_holds(self, need: int) -> bool:
        return (((self.m >> self.precision) << self.e) >> 64) >= need

    def descend(self, d0: int, d1: int) -> None:
        self.start += d0 << self.e
        m = d1 - d0
        shift = min(64 - m.bit_length(), self.e) if m else 0
        self.m, self.e = m << shift, self.e - shift


def _split(total: int, freqs: list[int], precision: int) -> list[int]:
    """Largest remainders: each child's floor share of `total`, then one more for the children
    with the largest remainders, the smaller symbol first on ties."""
    shares = [Fraction(total * f, 1 << precision) for f in freqs]
    counts = [int(x) for x in shares]
    by_remainder = sorted(range(len(freqs)), key=lambda c: (-(shares[c] - counts[c]), c))
    for c in by_remainder[: total - sum(counts)]:
        counts[c] += 1
    return counts


class _Window:
    """The path of one window: a wide node's interval, then a narrow node's values lo..lo+count-1."""

    def __init__(self, bits: int, precision: int):
        self.node, self.precision = Interval(bits, precision), precision
        self.lo = self.count = None
        self.depth, self.anchor, self.anchor_value = 0, None, None

    def children(self, cdf: list[int]) -> tuple[list[int] | None, int | None]:
        """(values per child, the node's own value or None) at a narrow node; (None, None) at a wide one."""
        check_cdf(cdf, self.precision)
        if self.count is None:
            if self.node.every_child_holds(1):
                return None, None
            self.lo = self.node.first_grid(0)
            self.count = self.node.first_grid(self.node.m) - self.lo
        freqs = [b - a for a, b in pairwise(cdf)]
        counts = _split(self.count, freqs, self.precision)
        q = Fraction(sum(f for f, k in zip(freqs, counts, strict=True) if k == 0), 1 << self.precision)
        if q == 0 or (self.anchor is not None and self.count * q * (self.depth - self.anchor) < Fraction(1, 2)):
            return counts, None
        return _split(self.count - 1, freqs, self.precision), self.lo + self.count - 1

    def child_start(self, counts: list[int], c: int) -> int:
        return self.lo + sum(counts[:c])

    def descend(self, cdf: list[int], counts: list[int] | None, own: int | None, c: int) -> None:
        if counts is None:
            self.node.descend(self.node.boundary(cdf[c]), self.node.boundary(cdf[c + 1]))
        else:
            if own is not None:
                self.anchor, self.anchor_value = self.depth, own
            self.lo, self.count = self.child_start(counts, c), counts[c]
        self.depth += 1


def encode_window(
    cdfs: list[list[int]], symbols: list[int], bits: int, precision: int, terminal: int, greedy: bool = False
) -> tuple[int, int | None]:
    """-> (symbols in the window, its value); (0, None) if every symbol fit and it could go on."""
    if greedy:
        return _encode_greedy(cdfs, symbols, bits, precision, terminal)
    win = _Window(bits, precision)
    n = len(cdfs[0]) - 1 if cdfs else 0
    for cdf, sym in zip(cdfs, symbols, strict=True):
        cdf = [int(c) for c in cdf]
        if not 0 <= sym < n:
            raise ReferenceCoderError("symbol out of range")
        counts, own = win.children(cdf)
        if counts is not None and counts[sym] == 0:
            return (win.depth, own) if own is not None else (win.anchor, win.anchor_value)
        if sym == terminal:
            start = win.node.first_grid(win.node.boundary(cdf[sym])) if counts is None else win.child_start(counts, sym)
            return win.depth + 1, start
        win.descend(cdf, counts, own, sym)
    return 0, None


def _encode_greedy(cdfs, symbols, bits, precision, terminal) -> tuple[int, int | None]:
    node = Interval(bits, precision)
    n = len(cdfs[0]) - 1 if cdfs else 0
    for j, (cdf, sym) in enumerate(zip(cdfs, symbols, strict=True)):
        cdf = [int(c) for c in cdf]
        if not 0 <= sym < n:
            raise ReferenceCoderError("symbol out of range")
        check_cdf(cdf, precision)
        d0, d1 = node.boundary(cdf[sym]), node.boundary(cdf[sym + 1])
        if not (node.every_child_holds(1) or node.first_grid(d1) > node.first_grid(d0)):
            return j, node.first_grid(0)
        if sym == terminal:
            return j + 1, node.first_grid(d0)
        node.descend(d0, d1)
    return 0, None


class WindowDecoder:
    """Decodes one window from its value, one symbol per step() (-1: the window has ended)."""

    def __init__(self, value: int, bits: int, precision: int, n: int, terminal: int):
        self.win, self.value = _Window(bits, precision), value
        self.n, self.terminal, self.active = n, terminal, True

    def step(self, cdf) -> int:
        if not self.active:
            raise ReferenceCoderError("window has ended")
        cdf = [int(c) for c in cdf]
        counts, own = self.win.children(cdf)
        if own is not None and self.value == own:
            self.active = False
            return -1
        if counts is None:
            node = self.win.node
            grid = [node.first_grid(node.boundary(c)) for c in cdf]
            sym = bisect_right(grid, self.value, 0, self.n) - 1
        else:
            ends = list(accumulate(counts, initial=self.win.lo))[1:]
            sym = bisect_right(ends, self.value)
        if sym == self.terminal:
            self.active = False
            return sym
        self.win.descend(cdf, counts, own, sym)
        return sym
