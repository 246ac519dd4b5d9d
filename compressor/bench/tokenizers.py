"""Bytes per token of every method on the same held-out text, next to the paper's C4 figures.

Models are fitted (and SentencePiece trained) on `docs_fit` only; every method is then checked
for exact round trips on `docs_test`.  The paper's AC and EqualInfoAC use its neural M1, so an
order-2 model is expected to fall short of those figures.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from compressor.corpus import write_documents
from compressor.spec import Spec
from compressor.spm import train_sentencepiece
from compressor.tokenizer_check import run_check
from compressor.tokenizers import parse_spec

# The paper's table, as spec templates: {model} is the AC methods' byte model (M1 in the paper),
# {fit} the text StaticAC's unigram is fitted on, {spm} a SentencePiece model of that text.
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


def run(
    docs_fit: Sequence[bytes],
    docs_test: Sequence[bytes],
    specs: Sequence[str] = DEFAULT_SPECS,
    spm_vocab_size: int = 32000,
) -> dict:
    """run_check's figures for each spec."""
    results, spm_vocab = [], None
    with fitted_specs(docs_fit, specs, spm_vocab_size) as filled:
        for template, spec in zip(specs, filled, strict=True):
            tok = parse_spec(spec)
            summary = run_check(tok, docs_test)
            summary["tokenizer"] = template
            summary["paper_bytes_per_token"] = paper_figure(Spec.parse(tok.spec))
            results.append(summary)
            if tok.name == "sentencepiece":
                spm_vocab = tok.vocab_size
    return {
        "fit_documents": len(docs_fit),
        "test_documents": len(docs_test),
        "test_bytes": sum(len(d) for d in docs_test),
        "spm_vocab_size": spm_vocab,
        "results": results,
    }


def format_table(result: dict) -> str:
    """One row per tokenizer: vocabulary, bytes per token here and in the paper, exactness."""
    head = f"{'tokenizer':<52} {'vocab':>7} {'bytes/token':>11} {'paper (C4)':>10}  exact"
    lines = [
        f"fitted on {result['fit_documents']} documents, measured on {result['test_documents']} "
        f"({result['test_bytes']:,} bytes); paper AC/EqualInfoAC figures use its M1 (trained far longer)",
        head,
        "-" * len(head),
    ]
    for r in result["results"]:
        paper = "-" if r["paper_bytes_per_token"] is None else f"{r['paper_bytes_per_token']:.2f}"
        lines.append(
            f"{r['tokenizer']:<52} {r['vocab_size']:>7} {r['bytes_per_token']:>11.3f} {paper:>10}  "
            + ("yes" if r["exact"] else f"NO ({r['mismatches']})")
        )
    return "\n".join(lines)
