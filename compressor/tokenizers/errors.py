"""The errors a tokenizer raises: a spec that names no tokenizer, input it cannot represent, ids
that do not decode."""

from __future__ import annotations

from compressor.codecs.results import DecodeError


class SpecError(ValueError):
    """A spec string that names no tokenizer, or one that cannot be built."""


class TokenizerEncodeError(ValueError):
    """Input a tokenizer cannot represent (e.g. bytes that are not UTF-8, for SentencePiece)."""


class TokenizerDecodeError(DecodeError):
    """Ids that do not decode to a document; the message names the document and the reason."""
