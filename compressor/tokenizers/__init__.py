"""Tokenizers: one interface for every method of the paper, built from spec strings.

    from compressor.tokenizers import parse_spec
    tok = parse_spec("equal_info_ac:b=16,v=65536,m1=runs/m1")
    ids = tok.encode("text"); tok.decode(ids) == b"text"

Read top-down: spec.py parses a spec, sources.py loads the byte model it names, registry.py
builds the tokenizer; base.py is the interface, simple.py, coded.py and spm.py the methods,
check.py the round-trip check, paper.py the paper's table of methods; hf.py, any spec as a
`transformers` tokenizer, is imported only by those who ask for it (the `[hf]` extra).
"""

from compressor.tokenizers.base import EncodedDoc, Tokenizer
from compressor.tokenizers.errors import SpecError, TokenizerDecodeError, TokenizerEncodeError
from compressor.tokenizers.registry import parse_spec

__all__ = ["EncodedDoc", "SpecError", "Tokenizer", "TokenizerDecodeError", "TokenizerEncodeError", "parse_spec"]
