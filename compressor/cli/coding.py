"""`eqinfo codec-check`, `bench coder` and `bench windows`: the coder and windows on real text."""

from __future__ import annotations

import json
import sys

import click

from compressor.cli.common import CORPUS, progress
from compressor.cli.common import documents as _documents
from compressor.codecs.tokens import TOKEN_BITS
from compressor.codecs.windows import WINDOW_BITS
from compressor.coder.native import DEFAULT_PRECISION
from compressor.models.simple import MODELS


def option_spec(method: str, model: str, fit: str | None, window_bits: int, token_bits: int, precision: int) -> str:
    """The tokenizer spec that codec-check's and the demo's separate options describe."""
    parts = [f"b={window_bits}"] if method == "equal_info_ac" else []
    parts.append(f"v={1 << token_bits}")
    if model.startswith("m1="):
        parts.append(model)
    else:
        parts.append(f"model={model}")
        if model != "uniform":
            parts.append(f"fit={fit}")
    return f"{method}:{','.join([*parts, f'p={precision}'])}"


def check_round_trip(spec: str, docs: list[bytes]) -> dict:
    """tokenizer_check.run_check with command-line errors."""
    from compressor.tokenizers import SpecError, TokenizerEncodeError, parse_spec
    from compressor.tokenizers.check import run_check

    try:
        return run_check(parse_spec(spec), docs, progress=progress)
    except (SpecError, FileNotFoundError) as exc:
        raise click.UsageError(str(exc)) from None
    except TokenizerEncodeError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("codec-check")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=CORPUS,
    help="Documents: C4 JSON lines (.json/.jsonl, optionally .gz or .zst; the `text` field) or a plain text file.",
)
@click.option("--tokenizer", "spec", help="A tokenizer spec (see `eqinfo encode --help`); replaces the options below.")
@click.option(
    "--model",
    "model_name",
    type=click.Choice(sorted(MODELS)),
    default="order2",
    show_default=True,
    help="Byte model driving the coder (unigram + ac is the paper's StaticAC).",
)
@click.option(
    "--m1",
    "m1_path",
    type=click.Path(exists=True, file_okay=False),
    help="Drive the coder with this M1 checkpoint instead of --model.",
)
@click.option(
    "--fit",
    "fit_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Documents to fit the model on [default: the input itself].",
)
@click.option(
    "--method",
    type=click.Choice(["equal_info_ac", "ac"]),
    default="equal_info_ac",
    show_default=True,
    help="Equal-Info windows, or one arithmetic-coded stream per document.",
)
@click.option(
    "--window-bits",
    type=click.Choice([str(b) for b in WINDOW_BITS]),
    default="16",
    show_default=True,
    help="b: bits per Equal-Info window.",
)
@click.option(
    "--token-bits",
    type=click.Choice([str(t) for t in TOKEN_BITS]),
    default="16",
    show_default=True,
    help="t: bits per token (vocabulary 2^t).",
)
@click.option(
    "--precision",
    type=click.IntRange(1, 16),
    default=DEFAULT_PRECISION,
    show_default=True,
    help="P: probabilities are integers out of 2^P, every symbol at least 1.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Read at most this many documents.")
def codec_check(input_path, spec, model_name, m1_path, fit_path, method, window_bits, token_bits, precision, limit):
    """Encode every document, decode it and compare, byte for byte.

    Prints a table, then one JSON line with the figures.  Exits 1 if any document does not
    round-trip.
    """
    from compressor.tokenizers.check import format_summary

    docs = _documents(input_path, limit, "input")
    model = f"m1={m1_path}" if m1_path else model_name
    spec = spec or option_spec(method, model, fit_path or input_path, int(window_bits), int(token_bits), precision)
    summary = check_round_trip(spec, docs)
    summary["input"] = str(input_path)
    click.echo(format_summary(summary))
    click.echo(json.dumps(summary))
    if not summary["exact"]:
        sys.exit(1)


@click.command("coder")
@click.option(
    "--symbols",
    type=click.IntRange(min=1000),
    default=1_000_000,
    show_default=True,
    help="Symbols coded, each with its own 256-way distribution.",
)
@click.option(
    "--reference-symbols",
    type=click.IntRange(min=100),
    default=20_000,
    show_default=True,
    help="Symbols given to the (slow) pure-Python reference coder.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Alternating rounds of ours and constriction from float32; the figures are their medians.",
)
def bench_coder(symbols, reference_symbols, seed, rounds):
    """Coder throughput: C from integer CDFs and from float32, constriction 0.5.0, Python reference."""
    from compressor.bench import coder as bc

    result = bc.run(symbols=symbols, reference_symbols=reference_symbols, seed=seed, rounds=rounds)
    click.echo(bc.format_table(result))
    click.echo(json.dumps(result))


@click.command("windows")
@click.option(
    "--input",
    "input_path",
    type=CORPUS,
    required=True,
    help="Held-out documents to code.",
)
@click.option(
    "--fit",
    "fit_path",
    type=CORPUS,
    help="Documents to fit an order-2 model on (without --m1).",
)
@click.option("--m1", "m1_path", type=click.Path(exists=True, file_okay=False), help="Use this M1 checkpoint.")
@click.option("--fit-limit", type=click.IntRange(min=1), help="Fit on the first N documents of --fit only.")
@click.option("--skip", type=click.IntRange(min=0), default=0, help="Skip the first N documents of --input.")
@click.option("--limit", type=click.IntRange(min=1), help="Code at most N documents after --skip.")
@click.option("--window-bits", default="16,32", show_default=True, help="Comma-separated b values.")
@click.option("--precision", type=click.IntRange(1, 16), default=DEFAULT_PRECISION, show_default=True)
@click.option("--decode/--no-decode", default=True, show_default=True, help="Also check every window decodes.")
@click.option(
    "--read-back/--no-read-back",
    default=False,
    show_default=True,
    help="Also read the paper's greedy windows back the natural way (a symbol only where the bits fix it) "
    "and count the windows and examples that do not round-trip.",
)
@click.option(
    "--example-bytes",
    type=click.IntRange(min=16),
    help="Cut the documents' text into examples of this many bytes (as the pipeline does) and code those.",
)
def bench_windows(
    input_path, fit_path, m1_path, fit_limit, skip, limit, window_bits, precision, decode, read_back, example_bytes
):
    """Cost of exact windows against the paper's greedy (ambiguous) windows, same model and text."""
    from compressor.bench import windows as bw
    from compressor.models.simple import build_model

    docs = _documents(input_path, None if limit is None else skip + limit, "input")[skip:]
    if example_bytes:
        from compressor.bench.m1 import equal_examples

        docs = equal_examples(docs, len(docs) * 1000, example_bytes)
    try:
        bits = [int(b) for b in window_bits.split(",")]
        if m1_path:
            from compressor.models.m1.bytemodel import M1ByteModel

            model = M1ByteModel.load(m1_path)
        elif fit_path:
            model = build_model("order2", _documents(fit_path, fit_limit, "--fit"), precision)
        else:
            raise click.UsageError("give --fit (order-2 model) or --m1")
        result = bw.run(docs, model, bits, decode, read_back)
    except (ValueError, FileNotFoundError) as exc:
        raise click.UsageError(str(exc)) from None
    result.update(
        input=str(input_path), fit=fit_path, m1=m1_path, fit_limit=fit_limit, skip=skip, example_bytes=example_bytes
    )
    click.echo(bw.format_table(result))
    click.echo(json.dumps(result))
