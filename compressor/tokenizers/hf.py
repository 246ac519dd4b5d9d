"""Any spec as a Hugging Face `transformers` tokenizer, for trainers built on that library.

    from compressor.tokenizers.hf import EqinfoTokenizer
    tok = EqinfoTokenizer("equal_info_ac:b=16,v=65536,m1=runs/m1")
    batch = tok(["one text", "another"], padding=True, return_tensors="pt")
    tok.batch_decode(batch["input_ids"]) == ["one text", "another"]

Our tokenizers code whole documents (an arithmetic-coded bitstream has no per-token text), so
this one encodes and decodes whole documents, a batch in one call, and leaves only truncation
(a cut coded stream decodes to a prefix, with a warning), padding and tensors to `transformers`.
The ids are the spec's, plus PAD = the spec's `vocab_size`, as M2's vocabulary
(m2_train/model.py): `len(tok)` is `vocab_size + 1`.

`save_pretrained` writes two small JSON files, the spec and PAD, and no model: the files a spec
names (`m1=`, `model=`, `fit=`) are referenced, never copied.  Their paths are kept as the spec
writes them, so a relative one is resolved against the working directory of whoever loads, as
everywhere a spec is read; `from_pretrained(folder, spec=...)` points a saved tokenizer elsewhere.
Importing this module needs the optional extra: `pip install eqinfo[hf]`.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from compressor.tokenizers.errors import TokenizerDecodeError
from compressor.tokenizers.registry import parse_spec

try:
    from transformers import BatchEncoding, PreTrainedTokenizer
    from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy
    from transformers.utils import to_py_obj
except ImportError as exc:
    raise ImportError(f"compressor.tokenizers.hf needs transformers ({exc}): pip install eqinfo[hf]") from exc

_TOKEN = re.compile(r"<(\d+)>")  # id 7 reads as "<7>": ids carry no text of their own


class EqinfoTokenizer(PreTrainedTokenizer):
    """A spec's tokenizer behind the `transformers` API; `self.eqinfo` is the tokenizer itself."""

    def __init__(self, spec: str, **kwargs):
        self.eqinfo = parse_spec(spec)  # before super().__init__, which asks for the vocabulary
        kwargs.setdefault("pad_token", "<pad>")  # added after the spec's ids: id vocab_size
        super().__init__(spec=self.eqinfo.spec, **kwargs)
        if self.pad_token_id not in (None, self.vocab_size):  # e.g. from_pretrained(folder, spec=) with another v
            raise ValueError(f"PAD is id {self.pad_token_id}, not {self.vocab_size} (after {self.eqinfo.spec}'s ids)")

    @property
    def vocab_size(self) -> int:
        return self.eqinfo.vocab_size

    def get_vocab(self) -> dict[str, int]:
        return {self._convert_id_to_token(i): i for i in range(self.vocab_size)} | self._added_tokens_encoder

    def _convert_id_to_token(self, index: int) -> str:
        return f"<{index}>"

    def _convert_token_to_id(self, token: str) -> int:
        match = _TOKEN.fullmatch(token)
        if match is None or int(match[1]) >= self.vocab_size:
            raise KeyError(f"{token!r} is no token of {self.eqinfo.spec}")
        return int(match[1])

    def tokenize(self, text: str, **kwargs) -> list[str]:
        """The document's ids as token strings; "<pad>" in the text is text like any other."""
        return self.convert_ids_to_tokens(self.eqinfo.encode(text).tolist())

    def _encode_plus(
        self,
        text,
        text_pair=None,
        *,
        padding_strategy=PaddingStrategy.DO_NOT_PAD,
        truncation_strategy=TruncationStrategy.DO_NOT_TRUNCATE,
        max_length=None,
        is_split_into_words=False,
        pad_to_multiple_of=None,
        padding_side=None,
        return_tensors=None,
        return_attention_mask=None,
        return_offsets_mapping=False,
        split_special_tokens=False,  # nothing to split: "<pad>" in a text is text
        **kwargs,
    ) -> BatchEncoding:
        """Documents to ids in one batch (the coded methods code a batch's documents in lockstep),
        then `transformers`' own truncation, padding and tensors."""
        if text_pair is not None or is_split_into_words:
            raise ValueError("an eqinfo tokenizer encodes whole documents: no text pairs, no pre-split words")
        if return_offsets_mapping:
            raise NotImplementedError("coded ids have no character offsets")
        batched = isinstance(text, list | tuple)
        docs = [
            self.prepare_for_model(
                a.tolist(), truncation=truncation_strategy, max_length=max_length, return_attention_mask=False, **kwargs
            )
            for a in self.eqinfo.encode_batch(list(text) if batched else [text])
        ]
        keys = docs[0].keys() if docs else self.model_input_names[:1]
        encoded = {k: [d[k] for d in docs] for k in keys} if batched else docs[0]
        encoded = self.pad(
            encoded,
            padding=padding_strategy,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_attention_mask=return_attention_mask,
        )
        return BatchEncoding(encoded, tensor_type=return_tensors, prepend_batch_axis=not batched)

    def decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str | list[str]:
        """One document's text, or a batch's (decoded together).  PAD is dropped whatever
        `skip_special_tokens` says: it is M2's padding and carries no text.  Ids that do not decode
        give the text their decodable start codes, with a warning; bytes that are not UTF-8 come
        back as U+FFFD (`self.eqinfo` gives the bytes themselves)."""
        ids = to_py_obj(token_ids)
        ids = [ids] if isinstance(ids, int) else ids
        batched = bool(ids) and isinstance(ids[0], list | tuple)
        pad = self.pad_token_id
        docs = [np.array([i for i in d if i != pad], dtype=np.int64) for d in (ids if batched else [ids])]
        texts = []
        for doc, result in zip(docs, self.eqinfo.try_decode_batch(docs), strict=True):
            if isinstance(result, TokenizerDecodeError):
                prefix = self.eqinfo.decode_prefix(doc)
                warnings.warn(
                    f"{result}; this is the text of its first {prefix.ids_used} of {doc.size} ids", stacklevel=2
                )
                result = prefix.text
            texts.append(result.decode("utf-8", errors="replace"))
        return texts if batched else texts[0]
