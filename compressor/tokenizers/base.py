"""The tokenizer interface every method implements: text -> int32 ids -> the same bytes, exactly.

Decoding never guesses: ids that no encoder could have written raise TokenizerDecodeError (or
come back as one, per document, from `try_decode_batch`).  A tokenizer is built from a spec
string by `compressor.tokenizers.parse_spec`.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compressor.codecs import parts
from compressor.codecs.results import Prefix
from compressor.tokenizers.errors import TokenizerDecodeError, TokenizerEncodeError
from compressor.tokenizers.spec import Spec

Text = str | bytes


@dataclass
class EncodedDoc:
    """One document's ids and, for bitstream methods, what the stream cost."""

    ids: np.ndarray  # int32
    coded_bits: int | None = None  # bits of the stream before token padding (None: not a bitstream)
    ideal_bits: float | None = None  # sum of -log2 p under the byte model (None: no model)
    windows: int = 0  # Equal-Info windows
    padding_bits: int = 0  # zero bits that fill the last token of each stream
    examples: int = 1  # parts of at most EXAMPLE_BYTES coded on their own (compressor/codecs/parts.py)


def decoded_record(result: bytes | ValueError) -> dict:
    """A decoded document as JSON fields: {"text"} for UTF-8, {"bytes_base64"} for other bytes,
    {"error"} for ids that do not decode."""
    if isinstance(result, ValueError):
        return {"error": str(result)}
    try:
        return {"text": result.decode("utf-8")}
    except UnicodeDecodeError:
        return {"bytes_base64": base64.b64encode(result).decode("ascii")}


def as_bytes(text: Text) -> bytes:
    """Text as UTF-8 bytes; bytes unchanged."""
    if isinstance(text, bytes | bytearray | memoryview):
        return bytes(text)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise TokenizerEncodeError(f"text is not valid Unicode ({exc.reason} at character {exc.start})") from None


class Tokenizer(ABC):
    """Documents <-> int32 ids in 0..vocab_size-1; decode(encode(x)) == x as bytes, always."""

    name: str
    vocab_size: int
    # A document's ids may be cut (into training records) only every this many ids: whole windows.
    unit_tokens: int = 1

    def __init__(self, spec: Spec):
        self._spec = spec

    @property
    def spec(self) -> str:
        """The canonical spec string: `parse_spec(tok.spec)` rebuilds this tokenizer."""
        return str(self._spec)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"

    @abstractmethod
    def encode_batch(self, texts: Sequence[Text]) -> list[np.ndarray]:
        """Each document's ids."""

    @abstractmethod
    def try_decode_batch(self, ids: Sequence[np.ndarray]) -> list[bytes | TokenizerDecodeError]:
        """Each document's bytes, or the reason it does not decode."""

    def encode_detailed(self, texts: Sequence[Text]) -> list[EncodedDoc]:
        return [
            EncodedDoc(i, examples=parts.count(len(as_bytes(t))))
            for i, t in zip(self.encode_batch(texts), texts, strict=True)
        ]

    def decode_batch(self, ids: Sequence[np.ndarray]) -> list[bytes]:
        """Each document's bytes; raises the first document's TokenizerDecodeError."""
        out = self.try_decode_batch(ids)
        for r in out:
            if isinstance(r, TokenizerDecodeError):
                raise r
        return out  # type: ignore[return-value]

    def encode(self, text: Text) -> np.ndarray:
        return self.encode_batch([text])[0]

    def decode_prefix(self, ids: np.ndarray | Sequence[int]) -> Prefix:
        """What the start of `ids` decodes to, and where and why decoding stops: for M2's samples,
        which rarely end at a document's end.  Never raises for bad ids."""
        arr = np.asarray(ids)
        [r] = self.try_decode_batch([arr])
        if isinstance(r, TokenizerDecodeError):
            return Prefix(b"", 0, False, str(r))
        return Prefix(r, arr.size, False)

    def decode(self, ids: np.ndarray | Sequence[int]) -> bytes:
        return self.decode_batch([np.asarray(ids)])[0]


def first_outside(ids: np.ndarray, vocab_size: int) -> int:
    """Index of the first id outside 0..vocab_size-1 (len(ids) if none)."""
    bad = np.flatnonzero((ids < 0) | (ids >= vocab_size))
    return int(bad[0]) if bad.size else ids.size
