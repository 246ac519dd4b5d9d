"""`eqinfo bench pipeline`: what Beam costs on top of the coder, and what a second worker buys.

The reference is the in-process batched engine (`Tokenizer.encode_detailed`) on the same
documents, cut into the same batches, so the same lanes run in lockstep.  The pipeline runs are
timed from launch to the manifest, worker start-up and M1 loading included: what a user waits.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from compressor.cli.common import CORPUS, documents
from compressor.io.corpus import write_documents
from compressor.shards.records import Record
from compressor.shards.shardset import read_manifest, read_shard
from compressor.tokenizers import parse_spec
from compressor.tokenizers.paper import PAPER_METHODS

RUNS = {
    "pipeline, in_memory": ["--direct_running_mode", "in_memory"],
    "multi_processing, 1 worker": ["--direct_num_workers", "1", "--direct_running_mode", "multi_processing"],
    "multi_processing, 2 workers": ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"],
}


def batches(docs: list[bytes], batch_bytes: int) -> list[list[bytes]]:
    """Consecutive documents of about batch_bytes, as the pipeline's reader cuts them."""
    out, size = [[]], 0
    for d in docs:
        out[-1].append(d)
        size += len(d)
        if size >= batch_bytes:
            out.append([])
            size = 0
    return [b for b in out if b]


def run(docs: list[bytes], spec: str, batch_bytes: int, seq_len: int) -> dict:
    from pipelines.compress import run as run_pipeline
    from pipelines.config import Config

    raw = sum(map(len, docs))
    tokenizer = parse_spec(spec)
    started = time.perf_counter()
    reference = [e.ids for b in batches(docs, batch_bytes) for e in tokenizer.encode_detailed(b)]
    rows = [{"run": "in-process engine", "seconds": time.perf_counter() - started}]
    shard_sets = []
    with tempfile.TemporaryDirectory(prefix="eqinfo-bench-") as tmp:
        source = write_documents(Path(tmp) / "docs.jsonl", docs)
        for name, beam_args in RUNS.items():
            prefix = Path(tmp) / name.replace(" ", "").replace(",", "-") / "x"
            config = Config([str(source)], str(prefix), spec, seq_len=seq_len, batch_bytes=batch_bytes)
            started = time.perf_counter()
            run_pipeline(config, beam_args)
            rows.append({"run": name, "seconds": time.perf_counter() - started})
            shard_sets.append(sorted(prefix.parent.glob("x-*.array_record")))
        records = [Record.from_bytes(r) for p in shard_sets[0] for r in read_shard(str(p))]  # in input order
        same_ids = np.array_equal(np.concatenate([r.ids for r in records]), np.concatenate(reference))
        exact = same_ids and all(
            [p.read_bytes() for p in s] == [p.read_bytes() for p in shard_sets[0]] for s in shard_sets
        )
    base = rows[0]["seconds"]
    for row in rows:
        row["bytes_per_second"] = round(raw / row["seconds"], 1)
        row["vs_in_process"] = round(row["seconds"] / base, 3)
        row["seconds"] = round(row["seconds"], 2)
    two, one = rows[3]["seconds"], rows[2]["seconds"]
    return {
        "tokenizer": tokenizer.spec,
        "documents": len(docs),
        "raw_bytes": raw,
        "batch_bytes": batch_bytes,
        "batches": len(batches(docs, batch_bytes)),
        "cores": len(os.sched_getaffinity(0)),
        "runs": rows,
        "pipeline_cost": rows[1]["vs_in_process"],
        "two_worker_speedup": round(one / two, 3),
        "exact": exact,
    }


def format_table(result: dict) -> str:
    lines = [
        f"{result['tokenizer']}: {result['documents']} documents, {result['raw_bytes']:,} bytes in "
        f"{result['batches']} batches, {result['cores']} cores",
        f"{'run':<30}{'seconds':>9}{'bytes/s':>11}{'x in-process':>14}",
    ]
    for r in result["runs"]:
        lines.append(f"{r['run']:<30}{r['seconds']:>9.2f}{r['bytes_per_second']:>11,.0f}{r['vs_in_process']:>14.3f}")
    lines.append(
        f"pipeline cost {result['pipeline_cost']:.3f}x the in-process engine; 2 workers "
        f"{result['two_worker_speedup']:.2f}x faster than 1; shards identical and equal to the engine's ids: "
        f"{'yes' if result['exact'] else 'NO'}"
    )
    return "\n".join(lines)


@click.command("pipeline")
@click.option("--input", "input_path", required=True, type=CORPUS, help="Documents (C4 JSON lines or text).")
@click.option("--tokenizer", "spec", help="Tokenizer spec [default: EqualInfoAC b=16 v=65536 with --m1].")
@click.option("--m1", "m1_path", type=click.Path(exists=True, file_okay=False), help="M1 for the default spec.")
@click.option("--skip", type=click.IntRange(min=0), default=800, show_default=True, help="Skip the first N documents.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Documents coded.")
@click.option("--batch-bytes", type=click.IntRange(min=1), default=64 << 10, show_default=True)
@click.option("--seq-len", type=click.IntRange(min=1), default=512, show_default=True)
def bench_pipeline(input_path, spec, m1_path, skip, limit, batch_bytes, seq_len):
    """Pipeline bytes/s against the in-process batched engine on the same documents and spec, and
    the speed-up of 2 DirectRunner worker processes over 1."""
    from pipelines.cli import configure_logging

    if not spec and not m1_path:
        raise click.UsageError("give --tokenizer SPEC, or --m1 DIR for EqualInfoAC[b=16, v=65536] with that M1")
    spec = spec or f"equal_info_ac:b=16,v=65536,m1={m1_path}"
    configure_logging(quiet=True)
    docs = documents(input_path, skip + limit, "input")[skip:]
    if not docs:
        raise click.UsageError(f"{input_path} has no documents after the first {skip}")
    result = run(docs, spec, batch_bytes, seq_len)
    result["input"] = str(input_path)
    click.echo(format_table(result))
    click.echo(json.dumps(result))


def run_shards(docs_fit: list[bytes], docs_test: list[bytes], specs, model: str, decode: bool, seq_len: int) -> dict:
    """Each spec through the pipeline (in_memory): bytes per token, shard size, exact decoding."""
    from compressor.tokenizers.paper import fitted_specs, paper_figure, with_model
    from compressor.tokenizers.spec import Spec
    from pipelines.compress import run as run_pipeline
    from pipelines.config import Config
    from pipelines.decode import decode_shards

    rows = []
    templates = with_model(specs, model)
    with fitted_specs(docs_fit, templates) as filled, tempfile.TemporaryDirectory(prefix="eqinfo-shards-") as tmp:
        source = write_documents(Path(tmp) / "test.jsonl", docs_test)
        for i, spec in enumerate(filled):
            prefix = str(Path(tmp) / f"s{i}" / "x")
            started = time.perf_counter()
            run_pipeline(Config([str(source)], prefix, spec, seq_len=seq_len), ["--direct_running_mode", "in_memory"])
            seconds = time.perf_counter() - started
            m = read_manifest(prefix)
            c = m["counts"]
            row = {
                "tokenizer": specs[i],
                "vocab_size": m["vocab_size"],
                "bytes_per_token": m["bytes_per_token"],
                "paper_bytes_per_token": paper_figure(Spec.parse(m["tokenizer"])),
                "tokens": c["tokens"],
                "records": c["records"],
                "shard_bytes": c["shard_bytes"],
                "shard_bytes_per_raw_byte": round(c["shard_bytes"] / c["raw_bytes"], 4),
                "record_compression": m["record_compression"],
                "compress_seconds": round(seconds, 1),
            }
            if decode:
                row["exact"] = decode_shards(prefix, str(Path(tmp) / f"s{i}.jsonl")).exact
            rows.append(row)
            click.echo(f"  {specs[i]}: {row['bytes_per_token']:.3f} bytes/token ({seconds:.0f} s)", err=True)
    return {
        "fit_documents": len(docs_fit),
        "test_documents": len(docs_test),
        "test_bytes": sum(map(len, docs_test)),
        "model": model,
        "seq_len": seq_len,
        "results": rows,
    }


def format_shards(result: dict) -> str:
    head = (
        f"{'tokenizer':<44}{'vocab':>7}{'bytes/token':>12}{'paper':>7}{'records':>9}{'shard bytes':>13}"
        f"{'per raw byte':>13}  exact"
    )
    lines = [
        f"fitted on {result['fit_documents']} documents, coded {result['test_documents']} "
        f"({result['test_bytes']:,} bytes) through the pipeline; {{model}} = {result['model']}",
        head,
        "-" * len(head),
    ]
    for r in result["results"]:
        paper = "-" if r["paper_bytes_per_token"] is None else f"{r['paper_bytes_per_token']:.2f}"
        exact = {True: "yes", False: "NO"}.get(r.get("exact"), "-")
        lines.append(
            f"{r['tokenizer']:<44}{r['vocab_size']:>7}{r['bytes_per_token']:>12.3f}{paper:>7}{r['records']:>9,}"
            f"{r['shard_bytes']:>13,}{r['shard_bytes_per_raw_byte']:>13.3f}  {exact}"
        )
    return "\n".join(lines)


@click.command("shards")
@click.option("--input", "input_path", required=True, type=CORPUS, help="Documents: the first fit, the rest are coded.")
@click.option("--fit-docs", type=click.IntRange(min=1), default=800, show_default=True)
@click.option("--m1", "m1_path", type=click.Path(exists=True, file_okay=False), help="M1 for AC and EqualInfoAC.")
@click.option(
    "--spec", "specs", multiple=True, help="Spec template, repeatable ({fit}, {spm}, {model}) [default: all]."
)
@click.option("--seq-len", type=click.IntRange(min=16), default=512, show_default=True)
@click.option("--decode/--no-decode", default=True, show_default=True, help="Also decode every shard and check it.")
def bench_shards(input_path, fit_docs, m1_path, specs, seq_len, decode):
    """Bytes per token and shard size of every method through the pipeline, beside the paper's figures."""
    from pipelines.cli import configure_logging

    configure_logging(quiet=True)
    docs = documents(input_path, None, "input")
    fit, test = docs[:fit_docs], docs[fit_docs:]
    if not test:
        raise click.UsageError(f"{input_path} has no documents after the first {fit_docs}")
    model = f"m1={m1_path}" if m1_path else "model=order2,fit={fit}"
    result = run_shards(fit, test, specs or PAPER_METHODS, model, decode, seq_len)
    result["input"] = str(input_path)
    click.echo(format_shards(result))
    click.echo(json.dumps(result))
