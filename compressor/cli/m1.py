"""`eqinfo train-m1` and `eqinfo eval-m1`: M1's training and held-out evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from compressor.cli.common import CORPUS, documents
from compressor.codecs.windows import WINDOW_BITS


def _split(inputs: tuple[str, ...], holdout: int, limit: int | None) -> tuple[list[bytes], list[bytes]]:
    docs = [d for path in inputs for d in documents(path, limit, "input")]
    if holdout >= len(docs):
        raise click.UsageError(f"--holdout {holdout} leaves no training documents out of {len(docs)}")
    return docs[: len(docs) - holdout], docs[len(docs) - holdout :]


@click.command("train-m1")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    type=CORPUS,
    help="Training documents (C4 JSON lines, plain, .gz or .zst, or plain text); repeat for several files.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Checkpoint directory.")
@click.option(
    "--holdout",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Last N documents are held out for evaluation, never trained on.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=3000,
    show_default=True,
    help="Optimizer steps (the learning-rate schedule's length).",
)
@click.option("--minutes", type=click.FloatRange(min=0.1), help="Stop after this much wall time.")
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True, help="Peak AdamW rate."
)
@click.option(
    "--dropout",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
    help="Dropout while training (residual writes, embeddings); coding never uses it.",
)
@click.option(
    "--ema-power",
    type=click.FloatRange(min=0),
    default=4.0,
    show_default=True,
    help="Evaluation and coding use an average of the weights, step t's counting as t^POWER (0: the last weights).",
)
@click.option(
    "--long-per-short",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Steps on long segments (plain AC's histories) per step on short ones (window-sized contexts).",
)
@click.option("--eval-every", type=click.IntRange(min=1), default=250, show_default=True)
@click.option(
    "--eval-docs",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Held-out documents scored at each evaluation.",
)
@click.option(
    "--size",
    type=click.Choice(["paper", "tiny"]),  # compressor.models.m1.model.SIZES
    default="paper",
    show_default=True,
    help="paper: 3 layers, d 256, 4 heads, MLP 1024; tiny: for tests.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue the run in --out, if any (same model and settings; --steps, --minutes, --eval-every may change).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="Read at most N documents per input file.")
def train_m1(
    inputs,
    out,
    holdout,
    steps,
    minutes,
    lr,
    dropout,
    ema_power,
    long_per_short,
    eval_every,
    eval_docs,
    size,
    resume,
    seed,
    limit,
):
    """Train M1, the byte-level model that drives the arithmetic coder."""
    from compressor.models.m1.model import SIZES
    from compressor.models.m1.train import ResumeError, TrainConfig, train

    train_docs, held = _split(inputs, holdout, limit)
    cfg = SIZES[size]
    tc = TrainConfig(
        steps=steps,
        minutes=minutes,
        lr=lr,
        dropout=dropout,
        ema_power=ema_power,
        long_per_short=long_per_short,
        eval_every=eval_every,
        seed=seed,
    )
    click.echo(f"training on {len(train_docs)} documents ({sum(map(len, train_docs)):,} bytes); {len(held)} held out")
    try:
        with _step_bar(steps) as bar:
            state = train(
                train_docs,
                held[:eval_docs],
                Path(out),
                cfg,
                tc,
                resume=resume,
                log=_echo_above(bar),
                progress=bar.update if bar is not None else None,
            )
    except ResumeError as exc:
        raise click.UsageError(f"{exc}: resume with the same settings, or pass --no-resume or another --out") from None
    calibrate_into(Path(out), train_docs[:64])
    click.echo(json.dumps({"out": out, "step": state["step"], "history": state["history"][-1:]}))


def _step_bar(steps: int):
    """A step bar on a terminal; nothing in logs and pipes (the evaluation lines say enough)."""
    import sys
    from contextlib import nullcontext

    if not sys.stderr.isatty():
        return nullcontext(None)
    return click.progressbar(length=steps, label="steps", file=sys.stderr, show_pos=True, show_eta=True)


def _echo_above(bar):
    """Log lines that start on a fresh line when a bar is drawing."""
    return click.echo if bar is None else (lambda line: click.echo("\n" + line))


@click.command("eval-m1")
@click.option("--m1", "m1_path", required=True, type=click.Path(exists=True, file_okay=False), help="Checkpoint.")
@click.option("--input", "input_path", required=True, type=CORPUS)
@click.option("--skip", type=click.IntRange(min=0), default=0, help="Skip the first N documents (e.g. training ones).")
@click.option("--limit", type=click.IntRange(min=1), help="Score at most N documents.")
def eval_m1(m1_path, input_path, skip, limit):
    """M1's bits/byte on documents: full context and context reset every 16 and every 5 bytes, for
    the float model and for the integer twin the coder uses, beside xz -9e on the same text."""
    from compressor.models.m1.bytemodel import INTEGER_FILE
    from compressor.models.m1.checkpoint import load_model
    from compressor.models.m1.evaluate import bits_per_byte, xz_bits_per_byte
    from compressor.models.m1.integer import IntegerM1

    docs = documents(input_path, None, "input")[skip:]
    docs = docs[:limit] if limit else docs
    models = {"float": load_model(m1_path)}
    if (Path(m1_path) / INTEGER_FILE).is_file():
        models["integer"] = IntegerM1.load(Path(m1_path) / INTEGER_FILE)
    result = {"documents": len(docs), "raw_bytes": sum(map(len, docs)), "xz": round(xz_bits_per_byte(docs), 4)}
    for name, model in models.items():
        for ctx, every in (("full", None), ("reset16", 16), ("reset5", 5)):
            result[f"{name}_{ctx}"] = round(bits_per_byte(model, docs, reset_every=every), 4)
    if "integer" in models:
        result["integer_cost_pct"] = round(100 * (result["integer_full"] / result["float_full"] - 1), 3)
    result["vs_xz_pct"] = round(100 * (result["float_full"] / result["xz"] - 1), 2)
    click.echo(f"{'context':<10}{'float':>8}{'integer':>9}   bits/byte ({len(docs)} documents; xz -9e: {result['xz']})")
    for ctx in ("full", "reset16", "reset5"):
        click.echo(f"{ctx:<10}{result[f'float_{ctx}']:>8.4f}{result.get(f'integer_{ctx}', float('nan')):>9.4f}")
    click.echo(json.dumps(result))


@click.command("calibrate-m1")
@click.option("--m1", "m1_path", required=True, type=click.Path(exists=True, file_okay=False), help="Checkpoint.")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=CORPUS,
    help="Sample text whose activations set the fixed-point scales (training text is fine).",
)
@click.option("--limit", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--precision", type=click.IntRange(9, 16), default=14, show_default=True)
def calibrate_m1(m1_path, input_path, limit, precision):
    """Build M1's exact integer twin (integer.safetensors) that the coder uses.

    train-m1 does this itself at the end of a run; rerun it to calibrate on other text.
    """
    calibrate_into(Path(m1_path), documents(input_path, limit, "input"), precision)


def calibrate_into(checkpoint_dir: Path, docs: list[bytes], precision: int = 14) -> None:
    from compressor.models.m1.bytemodel import calibrate

    path = calibrate(checkpoint_dir, docs, precision)
    click.echo(f"wrote {path} (calibrated on {len(docs)} documents, P={precision})")


@click.command("m1")
@click.option("--m1", "m1_path", required=True, type=click.Path(exists=True, file_okay=False), help="Checkpoint.")
@click.option("--input", "input_path", required=True, type=CORPUS)
@click.option(
    "--examples",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Examples coded in lockstep (the batch).",
)
@click.option(
    "--example-bytes",
    type=click.IntRange(min=16),
    default=1024,
    show_default=True,
    help="Bytes per example: the text is cut into equal examples, as the pipeline does.",
)
@click.option("--window-bits", type=click.Choice([str(b) for b in WINDOW_BITS]), default="16", show_default=True)
@click.option("--device", help="Encoding device (cpu, cuda, cuda:1); default: a GPU where there is one.")
@click.option("--decode-device", help="Decoding device, e.g. cpu after --device cuda: checks cross-device exactness.")
def bench_m1(m1_path, input_path, examples, example_bytes, window_bits, device, decode_device):
    """EqualInfoAC with M1: encode/decode bytes/s and encode FLOP/s against this machine's GEMM peak."""
    from compressor.bench import m1 as bm
    from compressor.models.m1.bytemodel import M1ByteModel

    docs = bm.equal_examples(documents(input_path, None, "input"), examples, example_bytes)
    model = M1ByteModel.load(m1_path, device)
    decoder = M1ByteModel.load(m1_path, decode_device) if decode_device else None
    result = bm.run(model, docs, int(window_bits), decode_model=decoder)
    for key, value in result.items():
        click.echo(f"{key:<24} {value}")
    click.echo(json.dumps(result))
