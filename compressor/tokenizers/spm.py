"""SentencePiece (unigram) as an exact tokenizer, and training it locally.

Models from `train_sentencepiece` give decode(encode(x)) == x for any UTF-8 text: identity
normalization, no dummy prefix, whitespace kept as it is, byte fallback for characters outside
the vocabulary.  One collision remains inside SentencePiece: it writes spaces as U+2581 "▁", so a
literal "▁" would come back as a space.  So each literal "▁" is coded as its three byte pieces,
and decoding maps pieces to bytes here rather than through SentencePiece's detokenizer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm

from compressor.codecs.results import Prefix
from compressor.io import storage
from compressor.tokenizers.base import Text, Tokenizer, as_bytes
from compressor.tokenizers.errors import SpecError, TokenizerDecodeError, TokenizerEncodeError
from compressor.tokenizers.spec import Spec

SPACE = "\u2581"  # SentencePiece's escaped space
# A model that codes this exactly keeps whitespace, skips normalization and falls back to bytes.
PROBE = "  a  b\t\n\n ﬁ\u3000Ａ 😀 ▁x\x00 "


def train_sentencepiece(
    docs: Iterable[bytes],
    out_prefix: str | Path,
    vocab_size: int = 32000,
    *,
    hard_vocab_limit: bool = True,
    num_threads: int | None = None,
) -> Path:
    """Trains a unigram model on UTF-8 documents; writes PREFIX.model and PREFIX.vocab, returns the model's path.

    With `hard_vocab_limit=False` the vocabulary may come out smaller than `vocab_size` when the
    corpus is too small to support it (SentencePiece otherwise refuses and names the maximum).
    """
    texts = []
    for i, doc in enumerate(docs):
        try:
            texts.append(doc.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise TokenizerEncodeError(f"training document {i} is not valid UTF-8 (byte {exc.start})") from None
    if not texts:
        raise ValueError("no documents to train SentencePiece on")
    Path(out_prefix).parent.mkdir(parents=True, exist_ok=True)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_prefix=str(out_prefix),
            vocab_size=vocab_size,
            hard_vocab_limit=hard_vocab_limit,
            model_type="unigram",
            byte_fallback=True,
            character_coverage=0.9995,
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=False,
            allow_whitespace_only_pieces=True,
            split_digits=True,
            max_sentence_length=max(4192, *(len(t.encode("utf-8")) + 1 for t in texts)),  # whole documents
            bos_id=-1,
            eos_id=-1,
            num_threads=num_threads or os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as exc:  # e.g. "Vocabulary size too high (32000). Please set it to a value <= 18704."
        raise ValueError(f"SentencePiece training failed: {str(exc).rsplit('] ', 1)[-1]}") from None
    return Path(f"{out_prefix}.model")


class SentencePiece(Tokenizer):
    """A SentencePiece model file as an exact tokenizer of UTF-8 text (the paper's 32k unigram baseline)."""

    name = "sentencepiece"

    def __init__(self, model_path: str | Path):
        """`model_path` may be a gs:// URL: the model is staged to the local cache."""
        super().__init__(Spec.of("sentencepiece", {"model": str(model_path)}))
        try:
            self.processor = spm.SentencePieceProcessor(model_file=str(storage.local_copy(str(model_path))))
        except (OSError, RuntimeError) as exc:
            raise SpecError(f"{self.spec}: cannot load the model ({exc})") from None
        sp = self.processor
        self.vocab_size = sp.vocab_size()
        byte_ids = [sp.piece_to_id(f"<0x{b:02X}>") for b in range(256)]
        if not all(sp.is_byte(i) for i in byte_ids):
            raise SpecError(f"{self.spec}: the model was not trained with byte_fallback (use `eqinfo train-spm`)")
        self._pieces: list[bytes | None] = [
            None
            if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)
            else bytes([byte_ids.index(i)])
            if sp.is_byte(i)
            else sp.id_to_piece(i).replace(SPACE, " ").encode("utf-8")
            for i in range(self.vocab_size)
        ]
        self._decodable = np.array([p is not None for p in self._pieces])
        self._space_ids = [byte_ids[b] for b in SPACE.encode("utf-8")]
        if self.decode(self.encode(PROBE)) != PROBE.encode("utf-8"):
            raise SpecError(
                f"{self.spec}: the model does not round-trip text exactly (it normalizes or drops whitespace); "
                "train one with `eqinfo train-spm`"
            )

    def encode_batch(self, texts: Sequence[Text]) -> list[np.ndarray]:
        parts = [_text(t, i).split(SPACE) for i, t in enumerate(texts)]
        coded = iter(self.processor.encode([p for ps in parts for p in ps]))
        out = []
        for ps in parts:
            ids = list(next(coded))
            for _ in ps[1:]:
                ids += self._space_ids + next(coded)
            out.append(np.array(ids, dtype=np.int32))
        return out

    def try_decode_batch(self, ids: Sequence[np.ndarray]) -> list[bytes | TokenizerDecodeError]:
        out: list[bytes | TokenizerDecodeError] = []
        for i, t in enumerate(ids):
            try:
                out.append(self._decode_one(np.asarray(t)))
            except ValueError as exc:
                out.append(TokenizerDecodeError(f"document {i}: {exc}"))
        return out

    def decode_prefix(self, ids: np.ndarray | Sequence[int]) -> Prefix:
        arr = np.asarray(ids, dtype=np.int64)
        ok = (arr >= 0) & (arr < self.vocab_size)
        ok[ok] = self._decodable[arr[ok]]
        end = int(np.argmin(ok)) if not ok.all() else arr.size
        note = f"id {end} = {arr[end]} is no piece that text encodes to" if end < arr.size else None
        return Prefix(b"".join([self._pieces[k] for k in arr[:end].tolist()]), end, False, note)  # type: ignore[misc]

    def _decode_one(self, arr: np.ndarray) -> bytes:
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError("ids must be a 1-D sequence of integers")
        arr = arr.astype(np.int64)
        bad = np.flatnonzero((arr < 0) | (arr >= self.vocab_size))
        if bad.size:
            raise ValueError(f"id {bad[0]} = {arr[bad[0]]} is outside 0..{self.vocab_size - 1}")
        bad = np.flatnonzero(~self._decodable[arr])
        if bad.size:
            piece = self.processor.id_to_piece(int(arr[bad[0]]))
            raise ValueError(f"id {bad[0]} = {arr[bad[0]]} is the control piece {piece}, which no text encodes to")
        data = b"".join([self._pieces[k] for k in arr.tolist()])  # type: ignore[misc]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"byte pieces do not form UTF-8 text (invalid byte at {exc.start})") from None
        return data


def _text(text: Text, i: int) -> str:
    if isinstance(text, str):
        as_bytes(text)  # rejects lone surrogates
        return text
    try:
        return bytes(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenizerEncodeError(
            f"document {i} is not valid UTF-8 (byte {exc.start}): SentencePiece codes text; "
            "bytes, gzip and the AC methods take any bytes"
        ) from None
