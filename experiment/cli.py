"""`eqinfo experiment` (and `eqinfo demo`, its demo budget on the default text)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click

from compressor.cli.common import CORPUS
from experiment.budgets import BUDGETS


def run(
    input_path: str | None,
    out: Path,
    budget_name: str,
    m1: str | None,
    seeds: int | None = None,
    m2_sizes: tuple[str, ...] | None = None,
) -> dict:
    from compressor.io.corpus import write_documents
    from compressor.io.demo_text import default_documents
    from experiment import report
    from experiment.run import Experiment
    from pipelines.cli import configure_logging

    configure_logging(quiet=True)
    changes = {k: v for k, v in (("seeds", seeds), ("m2_sizes", m2_sizes)) if v}
    budget = dataclasses.replace(BUDGETS[budget_name], **changes)
    out.mkdir(parents=True, exist_ok=True)
    if input_path is None:  # the C4 sample where it is, else text every Python carries
        docs, source = default_documents(10**6)
        input_path = str(out / "data" / "input.jsonl")
        if not Path(input_path).is_file():
            write_documents(Path(input_path), docs)
        click.echo(f"text: {source}")
    started = time.perf_counter()
    rows = Experiment(input_path, out, budget, m1, click.echo).run()
    wall = time.perf_counter() - started
    split = rows[0]["split"]
    info = {
        "input": input_path,
        **{k: split[k] for k in ("train_docs", "held_out_docs", "train_bytes", "held_out_bytes")},
        "m1": m1 or f"`{budget.m1_size}` trained {budget.m1_minutes} min here",
        "wall": f"{wall / 60:.1f} min (stages kept from an earlier run take no time)",
    }
    table = report.write(out, rows, budget.to_dict(), info)
    click.echo(f"\n{table}\n\nreport: {out / 'report.md'}")
    summary = {"report": str(out / "report.md"), "budget": budget_name, "wall_seconds": round(wall, 1)}
    summary["methods"] = [
        {
            "method": r["method"],
            **{k: r["eval"][k] for k in ("bits_per_byte", "uniform_bits_per_byte", "bytes_per_token")},
            "seeds_bits_per_byte": [s["eval"]["bits_per_byte"] for s in r["seeds"]],
            "sizes": {z["size"]: z["eval"]["bits_per_byte"] for z in r["sizes"]},
        }
        for r in rows
    ]
    return summary


class SizeList(click.ParamType):
    """Comma-separated M2 sizes of m2_train.model.SIZES, smallest first."""

    name = "SIZE,SIZE,..."

    def convert(self, value, param, ctx):
        from m2_train.model import SIZES, M2Config

        sizes = tuple(v.strip() for v in str(value).split(",") if v.strip())
        unknown = [v for v in sizes if v not in SIZES]
        if unknown or not sizes:
            what = f"unknown M2 size(s) {', '.join(unknown)}" if unknown else f"no M2 size in {value!r}"
            self.fail(f"{what}; choose from {', '.join(SIZES)}", param, ctx)
        params = [M2Config(vocab_size=2, **SIZES[v]).parameters_without_embeddings() for v in sizes]
        if len(set(sizes)) < len(sizes) or params != sorted(params):
            self.fail(f"{value}: give each size once, smallest first", param, ctx)
        return sizes


@click.command("experiment")
@click.option(
    "--input",
    "input_path",
    type=CORPUS,
    help="Documents [default: the C4 sample if present, else Python's reference documentation].",
)
@click.option("--out", default="runs/exp", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--budget", "budget_name", type=click.Choice(list(BUDGETS)), default="demo", show_default=True)
@click.option("--m1", type=click.Path(exists=True, file_okay=False), help="Use this M1; skip training one.")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    help="M2s per method (another initialisation and data order each, the same ids): the report gives mean "
    "and spread and decides each finding by its rule [default: the budget's].",
)
@click.option(
    "--m2-sizes",
    type=SizeList(),
    help="M2 sizes, comma-separated, smallest first (e.g. tiny,400k,1.6m): every method at each, the same ids; "
    "the findings are decided at the last [default: the budget's].",
)
def experiment(input_path, out, budget_name, m1, seeds, m2_sizes):
    """Reproduce the paper's learnability findings end to end: M1, SentencePiece, the Beam pipeline
    for every method, one M2 per method (FSDP2, torchrun), bits/byte on held-out text, report.

    An interrupted experiment resumes: stages whose inputs have not changed are not run again.
    Writes OUT/report.md with its plots, and prints the table.
    """
    click.echo(json.dumps(run(input_path, out, budget_name, m1, seeds, m2_sizes)))


@click.command("demo")
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--m1", type=click.Path(exists=True, file_okay=False), help="Use this M1; skip training one.")
def demo(out, m1):
    """`eqinfo experiment --budget demo` on the default text: Bytes, AC and EqualInfoAC[b=16], in
    about 15 minutes on 2 cores."""
    click.echo(json.dumps(run(None, out, "demo", m1)))
