"""`eqinfo encode`, `decode`, `train-spm` and `bench tokenizers`: any method as a tokenizer.

Token files are JSON lines, one document per line: {"ids": [...]}; or, for an --output/--input
ending in .npz, two arrays: `ids` (all documents' int32 ids, concatenated) and `offsets` (int64,
documents + 1 entries; document i is ids[offsets[i]:offsets[i + 1]]).  Decoded files are JSON
lines aligned with the token file: {"text": ...} for UTF-8, {"bytes_base64": ...} for other bytes,
{"error": ...} for a document whose ids do not decode.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import click
import numpy as np

from compressor.cli.common import CORPUS, documents, progress
from compressor.tokenizers import SpecError, Tokenizer, TokenizerEncodeError, parse_spec
from compressor.tokenizers.base import decoded_record
from compressor.tokenizers.check import in_chunks

SPEC_HELP = (
    "Tokenizer spec: bytes | sentencepiece:model=PATH | gzip:v=256 | static_ac:v=256,fit=PATH | "
    "ac:v=65536,model=order2,fit=PATH | equal_info_ac:b=16,v=65536,model=order2,fit=PATH "
    "(v=256|65536: 8/16-bit tokens; optional p=14: precision).  See compressor/tokenizers/spec.py."
)


def _tokenizer(spec: str) -> Tokenizer:
    try:
        return parse_spec(spec)
    except SpecError as exc:
        raise click.UsageError(str(exc)) from None


def write_ids(path: Path, ids: list[np.ndarray]) -> None:
    """Token file: .npz (ids + offsets) or JSON lines {"ids": [...]}."""
    if path.suffix == ".npz":
        offsets = np.cumsum([0] + [a.size for a in ids], dtype=np.int64)
        flat = np.concatenate(ids).astype(np.int32) if ids else np.zeros(0, np.int32)
        with path.open("wb") as fh:  # an open file keeps numpy from appending its own .npz
            np.savez_compressed(fh, ids=flat, offsets=offsets)
        return
    with path.open("w", encoding="utf-8") as fh:
        for a in ids:
            fh.write(json.dumps({"ids": a.tolist()}, separators=(",", ":")) + "\n")


def read_ids(path: Path) -> list[np.ndarray]:
    """A token file written by write_ids; malformed files are a clean error naming the line."""
    if path.suffix == ".npz":
        try:
            with np.load(path) as z:
                flat, offsets = z["ids"], z["offsets"]
        except (OSError, ValueError, KeyError) as exc:
            raise click.ClickException(f"{path}: not a token .npz with ids and offsets ({exc})") from None
        if (
            offsets.ndim != 1
            or offsets.size == 0
            or offsets[0] != 0
            or offsets[-1] != flat.size
            or (np.diff(offsets) < 0).any()
        ):
            raise click.ClickException(f"{path}: offsets do not partition ids")
        return [flat[a:b] for a, b in itertools.pairwise(offsets.tolist())]
    out = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                record = json.loads(line)
                ids = record["ids"]
                if not isinstance(ids, list):
                    raise TypeError("'ids' is not a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise click.ClickException(f'{path}:{lineno}: not a token line {{"ids": [...]}} ({exc})') from None
            out.append(np.array(ids) if ids else np.zeros(0, np.int32))
    return out


@click.command()
@click.option("--tokenizer", "spec", required=True, help=SPEC_HELP)
@click.option("--input", "input_path", required=True, type=CORPUS, help="Documents: C4 JSON lines or a text file.")
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Token file: JSON lines {"ids": [...]}, or .npz (ids + offsets).',
)
@click.option("--limit", type=click.IntRange(min=1), help="Read at most this many documents.")
def encode(spec, input_path, output_path, limit):
    """Tokenize documents with any method; one token sequence per document.

    Prints a summary line, then one JSON line with the figures.
    """
    tok = _tokenizer(spec)
    docs = documents(input_path, limit, "input")
    try:
        ids = in_chunks(tok.encode_batch, docs, [len(d) for d in docs], "encode", progress)
    except TokenizerEncodeError as exc:
        raise click.ClickException(str(exc)) from None
    write_ids(output_path, ids)
    tokens = sum(a.size for a in ids)
    summary = {
        "tokenizer": tok.spec,
        "documents": len(docs),
        "raw_bytes": sum(map(len, docs)),
        "tokens": int(tokens),
        "bytes_per_token": round(sum(map(len, docs)) / tokens, 4) if tokens else 0.0,
        "output": str(output_path),
    }
    click.echo(
        f"{summary['documents']:,} documents, {summary['raw_bytes']:,} bytes -> {tokens:,} tokens "
        f"({summary['bytes_per_token']:.3f} bytes/token) in {output_path}"
    )
    click.echo(json.dumps(summary))


@click.command()
@click.option("--tokenizer", "spec", required=True, help=SPEC_HELP)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Token file written by `eqinfo encode` (JSON lines or .npz).",
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='JSON lines, line i for document i: {"text": ...}, {"bytes_base64": ...} or {"error": ...}.',
)
def decode(spec, input_path, output_path):
    """Turn token sequences back into documents.

    Every document that decodes is written; one that does not gets an {"error": ...} line and
    its number is reported, and the command exits 1.
    """
    tok = _tokenizer(spec)
    ids = read_ids(input_path)
    results = in_chunks(tok.try_decode_batch, ids, [a.size for a in ids], "decode", progress)
    with output_path.open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(decoded_record(r), ensure_ascii=False) + "\n")
    failed = [r for r in results if isinstance(r, ValueError)]
    click.echo(f"{len(results) - len(failed):,} of {len(results):,} documents decoded into {output_path}")
    for r in failed[:10]:
        click.echo(f"does not decode: {r}", err=True)
    if failed:
        click.echo(f'{len(failed)} document(s) do not decode (lines with an "error" field)', err=True)
        sys.exit(1)


@click.command("train-spm")
@click.option("--input", "input_path", required=True, type=CORPUS, help="Training documents (C4 JSON lines or text).")
@click.option("--out", "out_prefix", required=True, help="Output prefix: writes PREFIX.model and PREFIX.vocab.")
@click.option(
    "--vocab-size",
    type=click.IntRange(min=300),
    default=32000,
    show_default=True,
    help="Pieces, 256 byte pieces and <unk> included (the paper: 32k).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Train on the first N documents only.")
@click.option(
    "--soft-vocab-limit", is_flag=True, help="Allow fewer pieces than --vocab-size when the corpus is too small for it."
)
def train_spm(input_path, out_prefix, vocab_size, limit, soft_vocab_limit):
    """Train a SentencePiece unigram model locally, set up for exact round trips.

    Identity normalization, no dummy prefix, whitespace kept, byte fallback: decode(encode(x))
    is x for any UTF-8 text.  Use it as --tokenizer sentencepiece:model=PREFIX.model.
    """
    from compressor.tokenizers.spm import SentencePiece, train_sentencepiece

    docs = documents(input_path, limit, "input")
    try:
        path = train_sentencepiece(docs, out_prefix, vocab_size, hard_vocab_limit=not soft_vocab_limit)
    except ValueError as exc:
        hint = " (--soft-vocab-limit accepts fewer)" if "too high" in str(exc) else ""
        raise click.ClickException(f"{exc}{hint}") from None
    tok = SentencePiece(path)
    click.echo(f"trained on {len(docs):,} documents: {tok.vocab_size:,} pieces in {path}")
    click.echo(json.dumps({"tokenizer": tok.spec, "vocab_size": tok.vocab_size, "documents": len(docs)}))


@click.command("tokenizers")
@click.option("--input", "input_path", required=True, type=CORPUS, help="Documents: the first ones fit, the rest test.")
@click.option(
    "--fit-docs",
    type=click.IntRange(min=1),
    default=600,
    show_default=True,
    help="Fit models and train SentencePiece on the first N documents.",
)
@click.option(
    "--test-docs", type=click.IntRange(min=1), help="Measure on this many documents after them [default: all]."
)
@click.option(
    "--spm-vocab-size",
    type=click.IntRange(min=300),
    default=32000,
    show_default=True,
    help="Upper bound; a small --fit-docs supports fewer pieces.",
)
@click.option(
    "--spec",
    "specs",
    multiple=True,
    help="Tokenizer spec, repeatable; {fit} and {spm} stand for the fit documents and the trained model "
    "[default: every method].",
)
def bench_tokenizers(input_path, fit_docs, test_docs, spm_vocab_size, specs):
    """Bytes per token of every method on held-out documents, next to the paper's C4 figures."""
    from compressor.bench import tokenizers as bt
    from compressor.tokenizers.paper import DEFAULT_SPECS

    docs = documents(input_path, None, "input")
    fit, test = docs[:fit_docs], docs[fit_docs:][:test_docs]
    if not test:
        raise click.UsageError(f"{input_path} has no documents after the first {fit_docs}")
    try:
        result = bt.run(fit, test, specs or DEFAULT_SPECS, spm_vocab_size)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    result["input"] = str(input_path)
    click.echo(bt.format_table(result))
    click.echo(json.dumps(result))
