"""`eqinfo analyze stability`: the paper's token-stability analysis for any methods."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import click

from compressor.cli.common import CORPUS
from compressor.io.corpus import CorpusError, read_documents


@click.group("analyze")
def analyze() -> None:
    """The paper's analyses of the methods' ids."""


@analyze.command("stability")
@click.option(
    "--input",
    "input_path",
    type=CORPUS,
    help="Documents: the first --fit-docs give the word list and fit the models, the rest the reuse "
    "documents [default: the C4 sample if present, else Python's reference documentation].",
)
@click.option("--fit-docs", type=click.IntRange(min=1), default=600, show_default=True)
@click.option(
    "--tokenizer",
    "specs",
    multiple=True,
    help="Tokenizer spec, repeatable; {fit} and {spm} stand for the fit documents and a SentencePiece model "
    "trained on them [default: every method of the paper's table, with --m1 or an order-2 model].",
)
@click.option("--m1", type=click.Path(exists=True, file_okay=False), help="M1 for the default AC methods.")
@click.option(
    "--word-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Words, one a line [default: the 3,000 most frequent words of the fit documents].",
)
@click.option("--words", "n_words", type=click.IntRange(min=2), default=500, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def stability(input_path, fit_docs, specs, m1, word_list, n_words, out):
    """Token stability as the paper measures it: N words drawn from a word list, each prepended
    to one fixed sentence; the Levenshtein distance between the ids of every pair of sequences
    (mean, median, share within 2, a histogram PNG per method); and of the distinct ids in 20
    documents of 1,024 bytes, the share that occur in more than one.  Writes OUT/stability.json.
    """
    from compressor.analysis import stability as st
    from compressor.io.demo_text import default_documents
    from compressor.tokenizers import SpecError
    from compressor.tokenizers.paper import DEFAULT_SPECS, PAPER_METHODS, fitted_specs, with_model

    if input_path is None:
        docs, input_path = default_documents(10**6)
    else:  # what the analysis reads, not the whole file: the fit documents, then the reuse ones
        docs = read_documents(input_path)
    docs = iter(docs)
    specs = specs or (with_model(PAPER_METHODS, f"m1={m1}") if m1 else DEFAULT_SPECS)
    try:
        fit = list(itertools.islice(docs, fit_docs))
        if not fit:
            raise click.ClickException(f"input {input_path} holds no documents")
        listed = word_list.read_text().split() if word_list else st.frequent_words(fit)
        words = st.draw_words(listed, n_words)
        reuse = st.reuse_documents(docs)  # reads on only until it has them
        if len(reuse) < st.REUSE_DOCS:
            raise ValueError(
                f"the documents after the first {fit_docs} hold {len(reuse)} of at least {st.REUSE_BYTES} bytes; "
                f"the reuse figure takes {st.REUSE_DOCS} (lower --fit-docs)"
            )
        with fitted_specs(fit, specs) as filled:
            rows = st.analyze(list(zip(specs, filled, strict=True)), words, reuse, out)
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from None
    except (ValueError, SpecError) as exc:
        raise click.UsageError(str(exc)) from None
    result = {"input": str(input_path), "sentence": st.SENTENCE, "words": words, "methods": rows}
    (out / "stability.json").write_text(json.dumps(result, indent=1) + "\n")
    click.echo(st.format_table(rows))
    click.echo(json.dumps({"stability": str(out / "stability.json"), "methods": len(rows)}))
