"""`eqinfo demo`: the compression stage end to end on real text, in a few minutes on 2 cores.

Trains M1 on most of the text (or takes one), runs the Beam pipeline with two DirectRunner
worker processes to code the held-out documents into EqualInfoAC shards, rebuilds every
document from the shards alone, and prints the manifest's figures.  The default text is the C4
sample when the project's shared data is beside the checkout, else Python's own reference
documentation, which every Python installation carries.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from compressor.cli.common import CORPUS
from compressor.cli.common import documents as read_corpus

# Optimizer steps per minute of this 2-core machine, so the schedule ends near the budget.
STEPS_PER_MINUTE = {"paper": 90, "tiny": 3000}
BEAM_ARGS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def train_m1(docs: list[bytes], held_out: list[bytes], out: Path, size: str, minutes: float) -> None:
    from compressor.cli.m1 import calibrate_into
    from compressor.m1.model import SIZES
    from compressor.m1.train import TrainConfig, train

    steps = max(20, int(minutes * STEPS_PER_MINUTE[size]))
    config = TrainConfig(steps=steps, minutes=minutes, eval_every=max(10, steps // 4))
    train(docs, held_out[:8], out, SIZES[size], config, resume=True, log=lambda line: click.echo(f"  {line}"))
    calibrate_into(out, docs[:64])


@click.command("demo")
@click.option(
    "--input",
    "input_path",
    type=CORPUS,
    help="Documents [default: the C4 sample if present, else Python's reference documentation].",
)
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--m1", "m1_path", type=click.Path(exists=True, file_okay=False), help="Use this M1; skip training.")
@click.option(
    "--minutes", type=click.FloatRange(min=0.01), default=3.0, show_default=True, help="M1's training budget."
)
@click.option("--size", type=click.Choice(sorted(STEPS_PER_MINUTE)), default="paper", show_default=True)
@click.option("--limit", type=click.IntRange(min=2), default=400, show_default=True, help="Documents read.")
@click.option(
    "--held-out",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="Last N documents: coded, not trained.",
)
@click.option("--window-bits", type=click.Choice(["16", "32", "64", "128"]), default="16", show_default=True)
def demo(input_path, out, m1_path, minutes, size, limit, held_out, window_bits):
    """Train M1, compress held-out text into EqualInfoAC shards with Beam, decode them back."""
    from compressor.demo_text import default_documents
    from compressor.shardset import read_manifest
    from pipelines.cli import configure_logging, manifest_table
    from pipelines.compress import Config, run
    from pipelines.decode import decode_shards

    configure_logging(quiet=True)
    docs, source = (read_corpus(input_path, limit, "input"), input_path) if input_path else default_documents(limit)
    if len(docs) <= held_out:
        raise click.UsageError(f"{len(docs)} documents leave none to train M1 on after --held-out {held_out}")
    train_docs, test_docs = docs[:-held_out], docs[-held_out:]
    click.echo(f"text: {source} ({len(docs)} documents)\n")
    out.mkdir(parents=True, exist_ok=True)
    if m1_path is None:
        m1_path = out / "m1"
        click.echo(
            f"1/3  M1 ({size}) on {len(train_docs)} documents, {sum(map(len, train_docs)):,} bytes, {minutes} min"
        )
        train_m1(train_docs, test_docs, m1_path, size, minutes)
    else:
        click.echo(f"1/3  M1 from {m1_path}")
    held = out / "held-out.jsonl"
    held.write_text("".join(json.dumps({"text": d.decode("utf-8", "replace")}) + "\n" for d in test_docs))
    spec = f"equal_info_ac:b={window_bits},v=65536,m1={m1_path}"
    prefix = str(out / "shards" / f"eq{window_bits}")
    click.echo(f"\n2/3  compress {len(test_docs)} held-out documents: Beam DirectRunner, 2 worker processes, {spec}")
    started = time.perf_counter()
    half = sum(map(len, test_docs)) // 2 + 1  # two batches, one per worker
    run(Config([str(held)], prefix, spec, num_shards=2, batch_bytes=half), BEAM_ARGS)
    click.echo(manifest_table(read_manifest(prefix)))
    click.echo(f"\n3/3  decode every document from the shards alone ({time.perf_counter() - started:.0f} s so far)")
    decoded = out / "decoded.jsonl"
    summary = decode_shards(prefix, str(decoded))
    texts = [json.loads(line).get("text", "").encode() for line in decoded.read_text().splitlines()]
    expected = [json.loads(line)["text"].encode() for line in held.read_text().splitlines()]
    exact = summary.exact and texts == expected
    click.echo(
        f"{summary.decoded} of {summary.documents} documents decoded, checksums verified, "
        f"{'identical to the input' if exact else 'NOT identical to the input'}: {decoded}"
    )
    if not exact:
        for failure in summary.failures[:5]:
            click.echo(f"  {failure}", err=True)
        sys.exit(1)
