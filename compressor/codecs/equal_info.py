"""EqualInfoAC as a codec: documents -> Equal-Info windows -> fixed-size tokens -> documents, exactly.

b-bit windows are packed into t-bit tokens (windows and tokens may straddle when t does not
divide b).  A document longer than an example is coded in parts, in parallel lanes
(compressor/codecs/parts.py).  Decoding checks that the tokens are exactly what the encoder would
write, so corrupted or padded streams are reported instead of silently decoding to something else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from compressor.codecs import parts, windows
from compressor.codecs.results import Bits, DecodeError, Encoded, Prefix
from compressor.codecs.tokens import TokenError, check_token_bits, tokens_to_bytes
from compressor.models.base import EOS, ByteModel, symbols_of

Progress = Callable[[int], None]


class EqualInfoCodec:
    """Equal-Info Windows of `window_bits` bits, cut into `token_bits`-bit tokens.  A document
    longer than `example_bytes` is coded as parts in parallel lanes, their windows in order."""

    name = "equal_info_ac"

    def __init__(self, model: ByteModel, window_bits: int, token_bits: int, example_bytes: int = parts.EXAMPLE_BYTES):
        windows.check_window_bits(window_bits, model.precision)
        check_token_bits(token_bits)
        parts.check_size(example_bytes)
        self.model, self.window_bits, self.token_bits = model, window_bits, token_bits
        self.example_bytes = example_bytes

    @property
    def vocab_size(self) -> int:
        return 1 << self.token_bits

    def encode_batch(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Encoded]:
        return [bits.encoded(self.token_bits) for bits in self.encode_bits(docs, progress)]

    def encode_bits(self, docs: Sequence[bytes], progress: Progress | None = None) -> list[Bits]:
        """Each document's windows, back to back, as one bitstream (any token size cuts it)."""
        pieces, owner = parts.split(docs, self.example_bytes)
        coded = windows.encode_documents(
            [symbols_of(p) for p in pieces], self.model, self.window_bits, progress=progress
        )
        bounds = parts.bounds(owner, len(docs))
        out = []
        for a, b in itertools.pairwise(bounds.tolist()):
            values = np.concatenate([w.values for w in coded[a:b]])
            streams = [(values.tobytes(), values.shape[0] * self.window_bits)]
            out.append(Bits(streams, sum(w.ideal_bits for w in coded[a:b]), values.shape[0], b - a))
        return out

    def decode_batch(self, tokens: Sequence[np.ndarray], progress: Progress | None = None) -> list[bytes | DecodeError]:
        nb = self.window_bits // 8
        values, errors = [], {}
        for i, t in enumerate(tokens):
            try:
                data = tokens_to_bytes(t, self.token_bits)
            except TokenError as exc:
                errors[i] = DecodeError(f"document {i}: {exc}")
                data = b""
            count = len(data) // nb
            if i not in errors and len(t) != -(-count * self.window_bits // self.token_bits):
                errors[i] = DecodeError(f"document {i}: {len(t)} tokens is not a whole number of windows")
            elif i not in errors and any(data[count * nb :]):
                errors[i] = DecodeError(f"document {i}: padding bits after the last window are not zero")
            values.append(np.frombuffer(data[: count * nb] if i not in errors else b"", np.uint8).reshape(-1, nb))
        decoded = windows.decode_documents(values, self.model, self.window_bits, progress=progress)
        return [errors.get(i) or parts.join(i, r, self.example_bytes) for i, r in enumerate(decoded)]

    def decode_prefix(self, tokens: np.ndarray) -> Prefix:
        """Window by window, each on its own, up to the document's end: the windows of a full part
        (example_bytes) lead on to the next part, a shorter part's EOS ends the document."""
        tokens = np.asarray(tokens)
        bad = np.flatnonzero((tokens < 0) | (tokens >= self.vocab_size))
        usable = tokens[: bad[0]] if bad.size else tokens
        nb = self.window_bits // 8
        data = tokens_to_bytes(usable, self.token_bits)
        values = np.frombuffer(data[: len(data) // nb * nb], np.uint8).reshape(-1, nb)
        text, part = bytearray(), 0
        for seen, w in enumerate(windows.decode_windows(values, self.model, self.window_bits), 1):
            body = w[w != EOS]
            text += body.astype(np.uint8).tobytes()
            part += body.size
            if w.size and w[-1] == EOS:
                if part < self.example_bytes:
                    used = -(-seen * self.window_bits // self.token_bits)
                    rest = values.shape[0] - seen
                    note = f"{rest} window(s) after the document's end" if rest else None
                    return Prefix(bytes(text), used, True, note)
                part = 0
        used = len(data) // nb * nb * 8 // self.token_bits
        note = f"id {bad[0]} = {tokens[bad[0]]} is outside the vocabulary" if bad.size else None
        return Prefix(bytes(text), used, False, note or "the ids end inside the document (no EOS yet)")
