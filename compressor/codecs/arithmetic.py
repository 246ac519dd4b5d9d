"""AC as a codec: one arithmetic-coded stream per example, cut into fixed-size tokens (StaticAC
is AC with a unigram model).  Decoding re-encodes what it decoded, so only the canonical tokens
of a document decode."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from compressor.codecs import parts, streams
from compressor.codecs.results import Bits, DecodeError, Encoded, Prefix
from compressor.codecs.tokens import TokenError, bits_to_tokens, check_token_bits, tokens_to_bytes
from compressor.models.base import ByteModel, symbols_of

Progress = Callable[[int], None]


class ArithmeticCodec:
    """One arithmetic-coded stream per example, cut into `token_bits`-bit tokens.

    A document longer than `example_bytes` is several streams, each padded to whole tokens and
    ending in EOS.  Streams are prefix-free (compressor/coder/csrc/range_coder.c), so a decoder reads
    one from the start of the rest of the tokens, whatever follows it, and re-encoding it tells
    where the next begins.
    """

    name = "ac"

    def __init__(self, model: ByteModel, token_bits: int, example_bytes: int = parts.EXAMPLE_BYTES):
        check_token_bits(token_bits)
        parts.check_size(example_bytes)
        self.model, self.token_bits, self.example_bytes = model, token_bits, example_bytes

    @property
    def vocab_size(self) -> int:
        return 1 << self.token_bits

    def _encode_part(self, part: bytes) -> tuple[np.ndarray, int, float]:
        data, nbits, ideal = streams.encode_document(symbols_of(part), self.model)
        return bits_to_tokens(data, nbits, self.token_bits), nbits, ideal

    def encode_batch(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Encoded]:
        return [bits.encoded(self.token_bits) for bits in self.encode_bits(docs, progress)]

    def encode_bits(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Bits]:
        """Each document's streams, one per example (any token size cuts each)."""
        pieces, owner = parts.split(docs, self.example_bytes)
        coded = []
        for p in pieces:
            coded.append(streams.encode_document(symbols_of(p), self.model))
            if progress is not None:
                progress(len(p) + 1)
        out = []
        for a, b in itertools.pairwise(parts.bounds(owner, len(docs)).tolist()):
            mine = coded[a:b]
            out.append(Bits([(data, nbits) for data, nbits, _ in mine], sum(c[2] for c in mine), 0, b - a))
        return out

    def decode_batch(self, tokens: Sequence[np.ndarray], progress: Progress | None = None) -> list[bytes | DecodeError]:
        """Every document's next part in lockstep, round after round, until its tokens run out."""
        ids = [np.asarray(t) for t in tokens]
        results: list[bytes | DecodeError | None] = [None] * len(ids)
        decoded_parts: list[list[bytes]] = [[] for _ in ids]
        offset = np.zeros(len(ids), dtype=np.int64)
        for i, t in enumerate(ids):
            try:
                tokens_to_bytes(t, self.token_bits)
            except TokenError as exc:
                results[i] = DecodeError(f"document {i}: {exc}")
        live = [i for i in range(len(ids)) if results[i] is None]
        while live:
            coded = [tokens_to_bytes(ids[i][offset[i] :], self.token_bits) for i in live]
            decoded = streams.decode_documents(coded, self.model, progress=progress)
            still = []
            for i, r in zip(live, decoded, strict=True):
                if isinstance(r, ValueError):
                    reason = str(r).split(": ", 1)[-1]  # arithmetic's message names the lane, not the document
                    results[i] = DecodeError(f"document {i} part {len(decoded_parts[i])}: {reason}")
                    continue
                part = parts.document_of(r)
                again, _, _ = self._encode_part(part)  # canonical form: exactly the tokens handed in
                if not np.array_equal(again, ids[i][offset[i] : offset[i] + again.size]):
                    results[i] = DecodeError(
                        f"document {i}: tokens differ from the canonical encoding (trailing, padded or altered bits)"
                    )
                    continue
                decoded_parts[i].append(part)
                offset[i] += again.size
                if offset[i] < ids[i].size:
                    still.append(i)
            live = still
        for i in range(len(ids)):
            if results[i] is None:
                error = parts.split_error(i, [len(p) for p in decoded_parts[i]], self.example_bytes)
                results[i] = error or b"".join(decoded_parts[i])
        return results  # type: ignore[return-value]

    def decode_prefix(self, tokens: np.ndarray) -> Prefix:
        """Part after part until one does not decode or the document ends."""
        tokens = np.asarray(tokens)
        text, offset = bytearray(), 0
        while offset < tokens.size:
            try:
                stream = tokens_to_bytes(tokens[offset:], self.token_bits)
            except TokenError as exc:
                return Prefix(bytes(text), offset, False, str(exc))
            [r] = streams.decode_documents([stream], self.model)
            if isinstance(r, streams.StreamDecodeError):
                reason = str(r).split(": ", 1)[-1]
                return Prefix(bytes(text + r.symbols), tokens.size, False, f"the stream stops decoding: {reason}")
            part = parts.document_of(r)
            text += part
            offset += self._encode_part(part)[0].size
            if len(part) < self.example_bytes:
                note = f"{tokens.size - offset} id(s) after the document's end" if offset < tokens.size else None
                return Prefix(bytes(text), offset, True, note)
        return Prefix(bytes(text), offset, False, "the ids end inside the document (no EOS yet)")
