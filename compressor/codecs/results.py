"""What the codecs give back: a document's tokens and costs, the decodable start of an id
sequence, and the error for ids that do not decode."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compressor.codecs.tokens import bits_to_tokens


class DecodeError(ValueError):
    """Tokens that do not decode to a document."""


@dataclass
class Encoded:
    """One document's tokens and what it cost."""

    tokens: np.ndarray  # int32 token ids
    coded_bits: int  # bits of the coded streams before token padding
    ideal_bits: float  # sum of -log2 of the coded symbols' quantised probabilities
    windows: int  # Equal-Info windows (0 for plain AC)
    examples: int = 1  # parts coded on their own (compressor/codecs/parts.py)


@dataclass
class Bits:
    """One document's coded bitstreams before they are cut into tokens: the same for every token
    size, so one coding serves v=256 and v=65536 alike."""

    streams: list[tuple[bytes, int]]  # (data, bits) of each stream in order: one per example for AC
    ideal_bits: float
    windows: int
    examples: int = 1

    def encoded(self, token_bits: int) -> Encoded:
        """The document's tokens: each stream cut into `token_bits`-bit tokens, zero-padded."""
        tokens = np.concatenate([bits_to_tokens(data, nbits, token_bits) for data, nbits in self.streams])
        return Encoded(tokens, sum(n for _, n in self.streams), self.ideal_bits, self.windows, self.examples)


@dataclass
class Prefix:
    """What the start of an id sequence decodes to, when the whole may not (M2's samples rarely
    end exactly at a document's end)."""

    text: bytes  # the bytes that decode
    ids_used: int  # how many of the ids they come from
    ended: bool  # the ids reach the document's end (EOS)
    note: str | None = None  # why decoding stops before the last id, or that the document goes on
