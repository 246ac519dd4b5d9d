"""Pure-Python twin of the C coder: the oracle the tests hold the extension to, bit for bit.

Written for clarity, not speed, and deliberately in a different formulation where the C code
splits numbers for speed: interval starts here are single big integers in fine units (2^-64 of a
grid point), where C keeps a 128-bit grid index plus a 64-bit fraction.
"""

from __future__ import annotations

from bisect import bisect_right
from fractions import Fraction
from itertools import pairwise

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
# Equal-Info windows (see compressor/csrc/equal_info.h for the rule)


class _Node:
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


def _claim_cost(freq: int, points: int) -> Fraction:
    return Fraction(freq) if points == 1 else Fraction(3 * freq, 10 * points)


def _analyse(node: _Node, claims: list[int], cdf: list[int], n: int):
    """-> (claim or None, grid or None, avail or None), exactly as the C analyse()."""
    check_cdf(cdf, node.precision)
    if node.every_child_holds(len(claims) + 1):
        return None, None, None
    grid = [node.first_grid(node.boundary(c)) for c in cdf]
    avail = [min(grid[c + 1] - grid[c], MASK64) for c in range(n)]
    for q in claims:
        c = bisect_right(grid, q, 0, n) - 1
        if avail[c] > 0:
            avail[c] -= 1
    if all(avail):
        return None, grid, avail
    best = min((c for c in range(n) if avail[c]), key=lambda c: (_claim_cost(cdf[c + 1] - cdf[c], avail[c]), c))
    q = grid[best + 1] - 1
    while q in claims:
        q -= 1
    avail[best] -= 1
    return q, grid, avail


def _descend(node: _Node, claims: list[int], cdf: list[int], c: int, claim: int | None) -> list[int]:
    d0, d1 = node.boundary(cdf[c]), node.boundary(cdf[c + 1])
    if claim is not None:
        claims = [*claims, claim]
    lo, hi = node.first_grid(d0), node.first_grid(d1)
    node.descend(d0, d1)
    return [q for q in claims if lo <= q < hi]


def encode_window(
    cdfs: list[list[int]], symbols: list[int], bits: int, precision: int, terminal: int, greedy: bool = False
) -> tuple[int, int | None]:
    """-> (symbols in the window, its value); (0, None) if every symbol fit and it could go on."""
    node, claims = _Node(bits, precision), []
    n = len(cdfs[0]) - 1 if cdfs else 0
    for j, (cdf, sym) in enumerate(zip(cdfs, symbols, strict=True)):
        cdf = [int(c) for c in cdf]
        if not 0 <= sym < n:
            raise ReferenceCoderError("symbol out of range")
        d0, d1 = node.boundary(cdf[sym]), node.boundary(cdf[sym + 1])
        if greedy:
            check_cdf(cdf, precision)
            if not (node.every_child_holds(1) or node.first_grid(d1) > node.first_grid(d0)):
                return j, node.first_grid(0)
            if sym == terminal:
                return j + 1, node.first_grid(d0)
            node.descend(d0, d1)
            continue
        claim, _, avail = _analyse(node, claims, cdf, n)
        if avail is not None and avail[sym] == 0:
            return j, claim
        if sym == terminal:
            q = node.first_grid(d0)
            while q in claims or q == claim:
                q += 1
            return j + 1, q
        claims = _descend(node, claims, cdf, sym, claim)
    return 0, None


class WindowDecoder:
    """Decodes one window from its value, one symbol per step() (-1: the window has ended)."""

    def __init__(self, value: int, bits: int, precision: int, n: int, terminal: int):
        self.node, self.claims, self.value = _Node(bits, precision), [], value
        self.n, self.terminal, self.active = n, terminal, True

    def step(self, cdf) -> int:
        if not self.active:
            raise ReferenceCoderError("window has ended")
        cdf = [int(c) for c in cdf]
        claim, grid, _ = _analyse(self.node, self.claims, cdf, self.n)
        if claim is not None and claim == self.value:
            self.active = False
            return -1
        if grid is None:
            grid = [self.node.first_grid(self.node.boundary(c)) for c in cdf]
        sym = bisect_right(grid, self.value, 0, self.n) - 1
        if sym == self.terminal:
            self.active = False
            return sym
        self.claims = _descend(self.node, self.claims, cdf, sym, claim)
        return sym
