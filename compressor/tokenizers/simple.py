"""The tokenizers without a byte model: Bytes and GZip (the paper's baselines)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence

import numpy as np

from compressor.codecs import parts
from compressor.codecs.results import Prefix
from compressor.codecs.tokens import TokenError, bits_to_tokens, tokens_to_bytes
from compressor.tokenizers.base import EncodedDoc, Text, Tokenizer, TokenizerDecodeError, as_bytes, first_outside
from compressor.tokenizers.spec import Spec

GZIP_LEVEL = 6  # zlib's default, as in the paper


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
        end = first_outside(arr, 256)
        note = f"id {end} = {arr[end]} is not a byte" if end < arr.size else None
        return Prefix(arr[:end].astype(np.uint8).tobytes(), end, False, note)


class GZip(Tokenizer):
    """Each example gzip-compressed on its own (level 6, header kept), cut into 8- or 16-bit tokens.

    A document longer than an example is several gzip members in a row.  With 16-bit tokens a
    member of odd length ends in one zero byte.  A member marks its own end and carries a CRC,
    so decoding rejects truncation, garbage and any other padding.
    """

    name = "gzip"

    def __init__(self, token_bits: int = 8, example_bytes: int = parts.EXAMPLE_BYTES):
        super().__init__(Spec.of("gzip", {"v": 1 << token_bits}))
        self.token_bits, self.vocab_size, self.example_bytes = token_bits, 1 << token_bits, example_bytes

    def encode_detailed(self, texts: Sequence[Text]) -> list[EncodedDoc]:
        out = []
        unit = self.token_bits // 8
        for t in texts:
            pieces, _ = parts.split([as_bytes(t)], self.example_bytes)
            members = [gzip.compress(p, compresslevel=GZIP_LEVEL, mtime=0) for p in pieces]
            stream = b"".join(m + b"\x00" * (-len(m) % unit) for m in members)
            nbits = 8 * sum(map(len, members))
            ids = bits_to_tokens(stream, 8 * len(stream), self.token_bits)
            out.append(EncodedDoc(ids, nbits, padding_bits=8 * len(stream) - nbits, examples=len(pieces)))
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
        end = first_outside(arr, self.vocab_size)
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
        members: list[bytes] = []
        while True:
            inflater = zlib.decompressobj(wbits=31)  # gzip framing, CRC32 and length checked
            try:  # never inflate more than an example: a hostile stream cannot exhaust memory
                data = inflater.decompress(stream, self.example_bytes + 1)
            except zlib.error as exc:
                if members:
                    raise ValueError(
                        f"{len(stream)} bytes after the end of the gzip stream are not a member ({exc})"
                    ) from None
                raise ValueError(f"not a gzip stream ({exc})") from None
            if len(data) > self.example_bytes:
                raise ValueError(f"a gzip member holds more than an example ({self.example_bytes} bytes)")
            if not inflater.eof:
                raise ValueError(f"gzip stream is truncated ({len(stream)} bytes)")
            members.append(data)
            rest = inflater.unused_data
            if self.token_bits == 16 and (len(stream) - len(rest)) % 2:
                if rest[:1] != b"\x00":
                    raise ValueError("padding after a gzip member of odd length must be one zero byte")
                rest = rest[1:]
            if not rest:
                break
            stream = rest
        error = parts.split_error(i, [len(p) for p in members], self.example_bytes)
        if error is not None:
            raise ValueError(str(error).removeprefix(f"document {i}: "))
        return b"".join(members)
