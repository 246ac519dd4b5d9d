"""The paper's table of methods, as spec templates, with its bytes-per-token figures on C4.

Templates leave the byte model and the fitted files open: {model} is the AC methods' byte model
(M1 in the paper), {fit} the text StaticAC's unigram is fitted on, {spm} a SentencePiece model of
that text.  The experiment and the benches fill them.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from compressor.io.corpus import write_documents
from compressor.tokenizers.spec import Spec
from compressor.tokenizers.spm import train_sentencepiece

PAPER_METHODS = (
    "bytes",
    "sentencepiece:model={spm}",
    "gzip:v=256",
    "gzip:v=65536",
    "static_ac:v=256,fit={fit}",
    "static_ac:v=65536,fit={fit}",
    "ac:v=256,{model}",
    "ac:v=65536,{model}",
    *(f"equal_info_ac:b={b},v={v},{{model}}" for v in (256, 65536) for b in (16, 32, 64, 128)),
)


LABELS = {
    "bytes": "Bytes",
    "sentencepiece": "SentencePiece",
    "gzip": "GZip",
    "static_ac": "StaticAC",
    "ac": "AC",
    "equal_info_ac": "EqualInfoAC",
}


def method_label(template: str) -> str:
    """The paper's name for a spec or template, e.g. EqualInfoAC[b=16, v=65k]."""
    spec = Spec.parse(re.sub(r"\{\w+\}", "x", template))
    keys = [f"{k}={'65k' if v == '65536' else v}" for k, v in spec.options if k in ("b", "v")]
    return LABELS[spec.method] + (f"[{', '.join(keys)}]" if keys else "")


def method_slug(template: str) -> str:
    """The label as a file name, e.g. equalinfoac-b-16-v-65k."""
    return re.sub(r"[^a-z0-9]+", "-", method_label(template).lower()).strip("-")


def with_model(templates: Sequence[str], model: str) -> tuple[str, ...]:
    """The templates with their {model} filled in (e.g. "m1={m1}" or "model=order2,fit={fit}")."""
    return tuple(t.replace("{model}", model) for t in templates)


DEFAULT_SPECS = with_model(PAPER_METHODS, "model=order2,fit={fit}")

# Raw bytes per token on C4, Lester et al. 2024 (as quoted in ARCHITECTURE.md): (method, b, v) -> figure.
PAPER = {
    ("bytes", None, None): 1.0,
    ("sentencepiece", None, None): 4.28,
    ("gzip", None, "256"): 2.23,
    ("gzip", None, "65536"): 4.47,
    ("static_ac", None, "256"): 1.73,
    ("static_ac", None, "65536"): 3.46,
    ("ac", None, "256"): 5.49,
    ("ac", None, "65536"): 10.98,
    **{("equal_info_ac", str(b), "256"): r for b, r in ((16, 2.66), (32, 3.49), (64, 4.16), (128, 4.61))},
    **{("equal_info_ac", str(b), "65536"): r for b, r in ((16, 5.31), (32, 6.97), (64, 8.33), (128, 9.22))},
}


def paper_figure(spec: Spec) -> float | None:
    return PAPER.get((spec.method, spec.get("b"), spec.get("v")))


@contextlib.contextmanager
def fitted_specs(docs_fit: Sequence[bytes], specs: Sequence[str], spm_vocab_size: int = 32000) -> Iterator[list[str]]:
    """The specs with {fit} and {spm} filled in: a file of docs_fit, and a SentencePiece model
    trained on it (an upper bound on its size that a small corpus may not reach); both last as
    long as the block."""
    with tempfile.TemporaryDirectory(prefix="eqinfo-bench-") as tmp:
        fit = write_documents(Path(tmp) / "fit.jsonl", docs_fit)
        spm = Path(tmp) / "spm.model"
        if any("{spm}" in s for s in specs):
            train_sentencepiece(docs_fit, spm.with_suffix(""), spm_vocab_size, hard_vocab_limit=False)
        yield [s.replace("{fit}", str(fit)).replace("{spm}", str(spm)) for s in specs]
