"""Bytes per token of every method on the same held-out text, next to the paper's C4 figures.

Models are fitted (and SentencePiece trained) on `docs_fit` only; every method is then checked
for exact round trips on `docs_test`.  The paper's AC and EqualInfoAC use its neural M1, so an
order-2 model is expected to fall short of those figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from compressor.tokenizers import parse_spec
from compressor.tokenizers.check import run_check
from compressor.tokenizers.paper import DEFAULT_SPECS, fitted_specs, paper_figure
from compressor.tokenizers.spec import Spec


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
