"""The arithmetic-coding methods behind the Tokenizer interface: AC, StaticAC and EqualInfoAC,
each a codec of compressor/codecs over the byte model its spec names."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from compressor.codecs.arithmetic import ArithmeticCodec
from compressor.codecs.equal_info import EqualInfoCodec
from compressor.codecs.results import DecodeError, Encoded, Prefix
from compressor.codecs.tokens import check_token_bits
from compressor.models.base import ByteModel
from compressor.tokenizers.base import EncodedDoc, Text, Tokenizer, TokenizerDecodeError, as_bytes
from compressor.tokenizers.spec import Spec


def _detailed(e: Encoded, token_bits: int) -> EncodedDoc:
    return EncodedDoc(
        e.tokens, e.coded_bits, e.ideal_bits, e.windows, e.tokens.size * token_bits - e.coded_bits, e.examples
    )


class _Coded(Tokenizer):
    """An arithmetic-coding method of compressor.codecs.methods behind the Tokenizer interface."""

    def __init__(self, codec: EqualInfoCodec | ArithmeticCodec, spec: Spec):
        super().__init__(spec)
        self.codec, self.model, self.vocab_size = codec, codec.model, codec.vocab_size

    def encode_detailed(self, texts: Sequence[Text]) -> list[EncodedDoc]:
        return self.encode_widths(texts, [self.codec.token_bits])[0]

    def encode_widths(self, texts: Sequence[Text], token_bits: Sequence[int]) -> list[list[EncodedDoc]]:
        """The documents coded once, cut into tokens of each size: what the same spec at each
        vocabulary (v = 2**bits) gives, for the cost of one coding."""
        for bits in token_bits:
            check_token_bits(bits)
        coded = self.codec.encode_bits([as_bytes(t) for t in texts])
        return [[_detailed(c.encoded(bits), bits) for c in coded] for bits in token_bits]

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
        super().__init__(ArithmeticCodec(model, token_bits), spec)


class StaticAC(_Coded):
    """AC with a context-free unigram model fitted on `fit` (the paper's StaticAC)."""

    name = "static_ac"

    def __init__(self, model: ByteModel, token_bits: int, fit: str):
        spec = Spec.of("static_ac", {"v": 1 << token_bits, "fit": fit, "p": model.precision})
        super().__init__(ArithmeticCodec(model, token_bits), spec)


class EqualInfoAC(_Coded):
    """Exact Equal-Info windows of `window_bits` bits, cut into `token_bits`-bit tokens."""

    name = "equal_info_ac"

    def __init__(self, model: ByteModel, window_bits: int, token_bits: int, source: dict[str, str]):
        spec = Spec.of("equal_info_ac", {"b": window_bits, "v": 1 << token_bits, **source, "p": model.precision})
        super().__init__(EqualInfoCodec(model, window_bits, token_bits), spec)
        self.unit_tokens = math.lcm(window_bits, token_bits) // token_bits
