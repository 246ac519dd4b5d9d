"""Spec string -> tokenizer, top-down: parse the spec (spec.py), load the byte model it names
(sources.py), build the tokenizer (here)."""

from __future__ import annotations

from compressor.models.base import ByteModel
from compressor.tokenizers import sources
from compressor.tokenizers.base import Tokenizer
from compressor.tokenizers.coded import AC, EqualInfoAC, StaticAC
from compressor.tokenizers.errors import SpecError
from compressor.tokenizers.simple import Bytes, GZip
from compressor.tokenizers.spec import VOCABS, Spec


def parse_spec(text: str) -> Tokenizer:
    """The tokenizer a spec string names, e.g. `equal_info_ac:b=16,v=65536,model=order2,fit=c4.json.gz`."""
    return build(Spec.parse(text))


def build(spec: Spec) -> Tokenizer:
    """The tokenizer a parsed spec names (fits or loads its model; fitted models are cached)."""
    if spec.method == "bytes":
        return Bytes()
    if spec.method == "sentencepiece":
        from compressor.tokenizers.spm import SentencePiece  # sentencepiece is imported only when used

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


def load_model(spec: Spec) -> ByteModel:
    """The byte model a coding spec names."""
    precision = int(spec.get("p"))
    name = "unigram" if spec.method == "static_ac" else spec.get("model")
    if name is not None:
        return sources.simple(name, spec.get("fit"), precision, str(spec))
    key = next(k for k in sources.loader_keys() if spec.get(k) is not None)
    return sources.load(key, spec.get(key), precision, str(spec))
