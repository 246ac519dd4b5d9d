"""One tokenizer interface for every method: text -> int32 ids -> the same bytes, exactly.

An M2 user treats EqualInfoAC like any other tokenizer: `parse_spec("equal_info_ac:b=16,...")`
gives an object with `encode`, `decode`, `vocab_size` and batch variants (spec syntax: see
compressor/spec.py).  Decoding never guesses: ids that no encoder could have written raise
TokenizerDecodeError (or come back as one, per document, from `try_decode_batch`).
"""

from __future__ import annotations

import base64
import gzip
import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compressor import examples, methods
from compressor.methods import DecodeError, Prefix
from compressor.models import ByteModel
from compressor.spec import VOCABS, Spec, SpecError, load_model
from compressor.tokens import TokenError, bits_to_tokens, tokens_to_bytes

Text = str | bytes
GZIP_LEVEL = 6  # zlib's default, as in the paper


class TokenizerDecodeError(DecodeError):
    """Ids that do not decode to a document; the message names the document and the reason."""


class TokenizerEncodeError(ValueError):
    """Input a tokenizer cannot represent (e.g. bytes that are not UTF-8, for SentencePiece)."""


@dataclass
class EncodedDoc:
    """One document's ids and, for bitstream methods, what the stream cost."""

    ids: np.ndarray  # int32
    coded_bits: int | None = None  # bits of the stream before token padding (None: not a bitstream)
    ideal_bits: float | None = None  # sum of -log2 p under the byte model (None: no model)
    windows: int = 0  # Equal-Info windows
    padding_bits: int = 0  # zero bits that fill the last token of each stream
    examples: int = 1  # parts of at most EXAMPLE_BYTES coded on their own (compressor/examples.py)


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
            EncodedDoc(i, examples=examples.count(len(as_bytes(t))))
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


class Bytes(Tokenizer):
    """The UTF-8 bytes themselves (vocabulary 256): the paper's Bytes baseline."""

    name = "bytes"
    vocab_size = 256

    def __init__(self) -> None:
        super().__init__(Spec.of("bytes", {}))

    def encode_batch(self, texts: Sequence[Text]) -> list[np.ndarray]:
        return [np.frombuffer(as_bytes(t), np.uint8).astype(np.int32) for t in texts]

    def try_decode_batch(self, ids: Sequence[np.ndarray]) -> list[bytes | TokenizerDecodeError]:
        out: list[bytes | TokenizerDecodeError] = []
        for i, t in enumerate(ids):
            try:
                out.append(tokens_to_bytes(t, 8))
            except TokenError as exc:
                out.append(TokenizerDecodeError(f"document {i}: {exc}"))
        return out

    def decode_prefix(self, ids: np.ndarray | Sequence[int]) -> Prefix:
        arr = np.asarray(ids, dtype=np.int64)
        end = _first_outside(arr, 256)
        note = f"id {end} = {arr[end]} is not a byte" if end < arr.size else None
        return Prefix(arr[:end].astype(np.uint8).tobytes(), end, False, note)


def _first_outside(ids: np.ndarray, vocab_size: int) -> int:
    """Index of the first id outside 0..vocab_size-1 (len(ids) if none)."""
    bad = np.flatnonzero((ids < 0) | (ids >= vocab_size))
    return int(bad[0]) if bad.size else ids.size


class GZip(Tokenizer):
    """Each example gzip-compressed on its own (level 6, header kept), cut into 8- or 16-bit tokens.

    A document longer than an example is several gzip members in a row.  With 16-bit tokens a
    member of odd length ends in one zero byte.  A member marks its own end and carries a CRC,
    so decoding rejects truncation, garbage and any other padding.
    """

    name = "gzip"

    def __init__(self, token_bits: int = 8, example_bytes: int = examples.EXAMPLE_BYTES):
        super().__init__(Spec.of("gzip", {"v": 1 << token_bits}))
        self.token_bits, self.vocab_size, self.example_bytes = token_bits, 1 << token_bits, example_bytes

    def encode_detailed(self, texts: Sequence[Text]) -> list[EncodedDoc]:
        out = []
        unit = self.token_bits // 8
        for t in texts:
            parts, _ = examples.split([as_bytes(t)], self.example_bytes)
            members = [gzip.compress(p, compresslevel=GZIP_LEVEL, mtime=0) for p in parts]
            stream = b"".join(m + b"\x00" * (-len(m) % unit) for m in members)
            nbits = 8 * sum(map(len, members))
            ids = bits_to_tokens(stream, 8 * len(stream), self.token_bits)
            out.append(EncodedDoc(ids, nbits, padding_bits=8 * len(stream) - nbits, examples=len(parts)))
        return out

    def encode_batch(self, texts: Sequence[Text]) -> list[np.ndarray]:
        return [d.ids for d in self.encode_detailed(texts)]

    def try_decode_batch(self, ids: Sequence[np.ndarray]) -> list[bytes | TokenizerDecodeError]:
        out: list[bytes | TokenizerDecodeError] = []
        for i, t in enumerate(ids):
            try:
                out.append(self._decode_one(i, t))
            except ValueError as exc:  # TokenError included
                out.append(TokenizerDecodeError(f"document {i}: {exc}"))
        return out

    def decode_prefix(self, ids: np.ndarray | Sequence[int]) -> Prefix:
        arr = np.asarray(ids, dtype=np.int64)
        end = _first_outside(arr, self.vocab_size)
        stream, text = tokens_to_bytes(arr[:end], self.token_bits), bytearray()
        while stream:
            inflater = zlib.decompressobj(wbits=31)
            try:
                text += inflater.decompress(stream, self.example_bytes + 1)
            except zlib.error as exc:
                return Prefix(bytes(text), end, False, f"not a gzip stream from here ({exc})")
            if not inflater.eof:
                return Prefix(bytes(text), end, False, "the ids end inside a gzip member")
            rest = inflater.unused_data
            stream = rest[1:] if self.token_bits == 16 and (len(stream) - len(rest)) % 2 else rest
        note = f"id {end} = {arr[end]} is outside the vocabulary" if end < arr.size else None
        return Prefix(bytes(text), end, True, note)

    def _decode_one(self, i: int, ids: np.ndarray) -> bytes:
        stream = tokens_to_bytes(ids, self.token_bits)
        parts: list[bytes] = []
        while True:
            inflater = zlib.decompressobj(wbits=31)  # gzip framing, CRC32 and length checked
            try:  # never inflate more than an example: a hostile stream cannot exhaust memory
                data = inflater.decompress(stream, self.example_bytes + 1)
            except zlib.error as exc:
                if parts:
                    raise ValueError(
                        f"{len(stream)} bytes after the end of the gzip stream are not a member ({exc})"
                    ) from None
                raise ValueError(f"not a gzip stream ({exc})") from None
            if len(data) > self.example_bytes:
                raise ValueError(f"a gzip member holds more than an example ({self.example_bytes} bytes)")
            if not inflater.eof:
                raise ValueError(f"gzip stream is truncated ({len(stream)} bytes)")
            parts.append(data)
            rest = inflater.unused_data
            if self.token_bits == 16 and (len(stream) - len(rest)) % 2:
                if rest[:1] != b"\x00":
                    raise ValueError("padding after a gzip member of odd length must be one zero byte")
                rest = rest[1:]
            if not rest:
                break
            stream = rest
        error = methods.split_error(i, [len(p) for p in parts], self.example_bytes)
        if error is not None:
            raise ValueError(str(error).removeprefix(f"document {i}: "))
        return b"".join(parts)


class _Coded(Tokenizer):
    """An arithmetic-coding method of compressor.methods behind the Tokenizer interface."""

    def __init__(self, codec: methods.EqualInfoAC | methods.ArithmeticCoding, spec: Spec):
        super().__init__(spec)
        self.codec, self.model, self.vocab_size = codec, codec.model, codec.vocab_size

    def encode_detailed(self, texts: Sequence[Text]) -> list[EncodedDoc]:
        bits = self.codec.token_bits
        return [
            EncodedDoc(e.tokens, e.coded_bits, e.ideal_bits, e.windows, e.tokens.size * bits - e.coded_bits, e.examples)
            for e in self.codec.encode_batch([as_bytes(t) for t in texts])
        ]

    def encode_batch(self, texts: Sequence[Text]) -> list[np.ndarray]:
        return [d.ids for d in self.encode_detailed(texts)]

    def try_decode_batch(self, ids: Sequence[np.ndarray]) -> list[bytes | TokenizerDecodeError]:
        decoded = self.codec.decode_batch([np.asarray(t) for t in ids])
        return [TokenizerDecodeError(str(r)) if isinstance(r, DecodeError) else r for r in decoded]

    def decode_prefix(self, ids: np.ndarray | Sequence[int]) -> Prefix:
        return self.codec.decode_prefix(np.asarray(ids, dtype=np.int64))


class AC(_Coded):
    """One arithmetic-coded stream per document (the paper's AC with M1; any byte model here).

    `source` is how the model was made, as spec options: {"model": "order2", "fit": PATH},
    {"model": "uniform"} or {"m1": PATH}.
    """

    name = "ac"

    def __init__(self, model: ByteModel, token_bits: int, source: dict[str, str]):
        spec = Spec.of("ac", {"v": 1 << token_bits, **source, "p": model.precision})
        super().__init__(methods.ArithmeticCoding(model, token_bits), spec)


class StaticAC(_Coded):
    """AC with a context-free unigram model fitted on `fit` (the paper's StaticAC)."""

    name = "static_ac"

    def __init__(self, model: ByteModel, token_bits: int, fit: str):
        spec = Spec.of("static_ac", {"v": 1 << token_bits, "fit": fit, "p": model.precision})
        super().__init__(methods.ArithmeticCoding(model, token_bits), spec)


class EqualInfoAC(_Coded):
    """Exact Equal-Info windows of `window_bits` bits, cut into `token_bits`-bit tokens."""

    name = "equal_info_ac"

    def __init__(self, model: ByteModel, window_bits: int, token_bits: int, source: dict[str, str]):
        spec = Spec.of("equal_info_ac", {"b": window_bits, "v": 1 << token_bits, **source, "p": model.precision})
        super().__init__(methods.EqualInfoAC(model, window_bits, token_bits), spec)
        self.unit_tokens = math.lcm(window_bits, token_bits) // token_bits


def build(spec: Spec) -> Tokenizer:
    """The tokenizer a parsed spec names (fits or loads its model; fitted models are cached)."""
    if spec.method == "bytes":
        return Bytes()
    if spec.method == "sentencepiece":
        from compressor.spm import SentencePiece  # sentencepiece is imported only when used

        return SentencePiece(spec.get("model"))
    token_bits = VOCABS[int(spec.get("v"))]
    if spec.method == "gzip":
        return GZip(token_bits)
    model = load_model(spec)
    if model.precision != int(spec.get("p")):
        raise SpecError(f"{spec}: the model has precision {model.precision}, the spec asks for p={spec.get('p')}")
    source = {k: v for k, v in spec.options if k not in ("b", "v", "p")}
    try:
        if spec.method == "static_ac":
            return StaticAC(model, token_bits, spec.get("fit"))
        if spec.method == "ac":
            return AC(model, token_bits, source)
        return EqualInfoAC(model, int(spec.get("b")), token_bits, source)
    except ValueError as exc:
        raise SpecError(f"{spec}: {exc}") from None


def parse_spec(text: str) -> Tokenizer:
    """The tokenizer a spec string names, e.g. `equal_info_ac:b=16,v=65536,model=order2,fit=c4.json.gz`."""
    return build(Spec.parse(text))
