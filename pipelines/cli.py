"""`eqinfo compress`, `decode-shards` and `inspect`: the pipeline's commands (joined to `eqinfo`
through setup.py's entry points).  Beam is imported only when a command runs."""

from __future__ import annotations

import json
import logging
import re
import sys

import click

from compressor.cli.common import progress
from compressor.cli.tokenize import SPEC_HELP
from pipelines.config import DECODE_IDS, Config

SIZE = click.IntRange(min=1)
BEAM_WORKER_LOGGER = "apache_beam.runners.portability.local_job_service"  # relays worker processes' logs


class WorkerLines(logging.Filter):
    """Beam relays every log entry of its worker processes as one protobuf dump: keep this
    package's own lines (progress), as plain text, and drop the rest."""

    MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
    WHERE = re.compile(r'log_location: "([^"]*)"')

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        message, where = self.MESSAGE.search(text), self.WHERE.search(text)
        if message is None or where is None or "/pipelines/" not in where[1]:
            return False
        record.msg, record.args = message[1].encode().decode("unicode_escape"), ()
        return True


def configure_logging(quiet: bool) -> None:
    """Progress lines from this package (local workers included); Beam's own chatter only when it warns."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    for noisy in ("apache_beam", "absl", "urllib3", "google"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    relay = logging.getLogger(BEAM_WORKER_LOGGER)
    relay.setLevel(logging.WARNING if quiet else logging.INFO)
    relay.addFilter(WorkerLines())


def also_output(value: str) -> tuple[int, str]:
    vocab, eq, prefix = value.partition("=")
    if not eq or not prefix or not vocab.isdigit():
        raise click.BadParameter(f"{value!r} is not V=PREFIX (e.g. 65536=shards/eq16-v65k)", param_hint="--also-output")
    return int(vocab), prefix


def own_flags() -> list[str]:
    """The running command's own option names (for the error when one is given to Beam)."""
    ctx = click.get_current_context()
    return [name for p in ctx.command.get_params(ctx) for name in (*p.opts, *p.secondary_opts) if name.startswith("-")]


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def manifest_table(m: dict) -> str:
    c = m["counts"]
    rows = [
        ("tokenizer", f"{m['tokenizer']} (vocabulary {m['vocab_size']:,}, PAD {m['pad_id']})"),
        ("documents", f"{c['documents']:,} in {len(m['files']):,} file(s); {c['examples']:,} examples"),
        ("raw bytes", f"{c['raw_bytes']:,}"),
        ("tokens", f"{c['tokens']:,} ({m['bytes_per_token'] or 0:.3f} bytes/token)"),
        ("records", f"{c['records']:,} of {m['seq_len']} ids ({c['padding_ids']:,} PAD)"),
        ("shards", f"{c['shards']:,}, {c['shard_bytes']:,} bytes ({m['record_compression']})"),
        ("rejected", ", ".join(f"{k} {v:,}" for k, v in m["rejected"].items()) or "none"),
        ("uniform M2", f"{m['uniform_bits_per_byte'] or 0:.3f} bits/byte (an M2 that learned nothing)"),
        ("wall time", f"{m['wall_seconds']:.1f} s ({m['runner']})"),
    ]
    if c["windows"]:
        rows.insert(4, ("windows", f"{c['windows']:,} ({c['padding_bits']:,} padding bits)"))
    return table(rows)


@click.command("compress")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    help="Corpus files or glob patterns, local or gs:// (JSON lines with a 'text' field, .json/.jsonl, plain, "
    ".gz or .zst, or plain text files, one document each); repeat for several.",
)
@click.option(
    "--output",
    required=True,
    help="Output prefix, local or gs://: PREFIX-FFFFF-PPPPP.array_record (part P of input file F), "
    "PREFIX.manifest.json, PREFIX.rejected.jsonl.",
)
@click.option("--tokenizer", required=True, help=SPEC_HELP)
@click.option(
    "--seq-len", type=SIZE, default=Config.seq_len, show_default=True, help="Ids per record (M2's sequence length)."
)
@click.option(
    "--shard-bytes",
    type=SIZE,
    default=Config.shard_bytes,
    show_default=True,
    help="Text per shard: a shard holds whole coding batches of one input file, in order, until their "
    "documents add up to this many bytes, so the shard count follows the data (C4: 3 shards a file).",
)
@click.option(
    "--batch-bytes",
    type=SIZE,
    help="Text per coding batch: its examples share M1's lanes in lockstep, and the records are cut per batch "
    "[default: 16 KiB a lane of the device M1 codes on: 4 MiB on a CPU (256 lanes), 64 MiB with a GPU "
    "(4,096 lanes; a Dataflow job with worker_accelerator); 4 MiB without M1].",
)
@click.option(
    "--max-document-bytes",
    type=SIZE,
    default=Config.max_document_bytes,
    show_default=True,
    help="Larger documents are rejected (dead letters), not coded.",
)
@click.option(
    "--record-compression",
    "compression",
    help="ArrayRecord compression: uncompressed, zstd:3, brotli:6, snappy [default: zstd:3 for bytes and "
    "sentencepiece, uncompressed for the coded methods, whose ids are near-random].",
)
@click.option("--coder-threads", type=SIZE, help="torch threads per worker process [default: cores / workers].")
@click.option(
    "--share-coder",
    type=click.Choice(["auto", "machine", "process"]),
    default=Config.share_coder,
    show_default=True,
    help="Load M1 once per machine (every SDK process of a VM sends its batches to one coder process that "
    "uses all its cores and its GPU) or once per worker process; auto: per machine where the worker sees a "
    "GPU, else per process.",
)
@click.option(
    "--also-output",
    "also",
    multiple=True,
    callback=lambda ctx, param, values: [also_output(v) for v in values],
    metavar="V=PREFIX",
    help="Also write the same bitstreams cut into tokens of vocabulary V (256 or 65536) to PREFIX, with its "
    "own manifest: one coding for both (AC, StaticAC and EqualInfoAC); repeat for several.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only the summary, no progress log.")
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED)
def compress(quiet, beam_args, **options):
    """Compress corpora into M2's token shards with an Apache Beam pipeline.

    Arguments after `--` go to Beam unchanged: `-- --direct_num_workers 2 --direct_running_mode
    multi_processing` locally, `-- --runner DataflowRunner --project P --region R ...` at scale.
    Writes the shards, PREFIX.manifest.json and PREFIX.rejected.jsonl (input that is not a
    document, with the reason), prints a summary table and one JSON line.
    """
    from pipelines.compress import PlanError, run

    configure_logging(quiet)
    config = Config(**options)
    try:
        result = run(config, beam_args, own_options=own_flags())
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None
    from compressor.shards import shardset

    state = str(getattr(result, "state", "DONE"))
    if "DONE" not in state:
        raise click.ClickException(f"the pipeline ended in state {state}")
    m = shardset.read_manifest(config.output)
    click.echo(manifest_table(m))
    for _, prefix in config.also:
        other = shardset.read_manifest(prefix)
        click.echo(f"also      {other['tokenizer']}: {other['counts']['tokens']:,} ids in {prefix} (the same bits)")
    click.echo(
        json.dumps(
            {"manifest": shardset.manifest_path(config.output), **m["counts"], "wall_seconds": m["wall_seconds"]}
        )
    )


@click.command("decode-shards")
@click.option("--input", "prefix", required=True, help="Shard prefix (the --output of `eqinfo compress`).")
@click.option(
    "--output", required=True, help='JSON lines, in input order: {"file", "line", "text"} or {"file", "line", "error"}.'
)
def decode_shards(prefix, output):
    """Rebuild every document from the shards alone and check it against the records' checksums.

    Exits 1, naming the records, if any document does not decode exactly.
    """
    from compressor.shards.shardset import ManifestError, read_manifest
    from pipelines.decode import decode_shards as run_decode

    try:
        total = read_manifest(prefix)["counts"]["raw_bytes"]
    except ManifestError as exc:
        raise click.UsageError(str(exc)) from None
    with progress("decode", total) as bar:
        summary = run_decode(prefix, output, progress=bar.update if bar is not None else None)
    click.echo(
        f"{summary.decoded:,} of {summary.documents:,} documents ({summary.raw_bytes:,} bytes, "
        f"{summary.records:,} records) decoded into {output}"
    )
    for failure in summary.failures[:10]:
        click.echo(f"does not decode: {failure}", err=True)
    click.echo(json.dumps({**vars(summary), "failures": len(summary.failures), "exact": summary.exact}))
    if not summary.exact:
        sys.exit(1)


@click.command("verify")
@click.argument("prefix")
@click.option(
    "--range-records",
    type=SIZE,
    help="Records per work item; a batch is decoded by the item it begins in [default: as many as hold "
    f"{DECODE_IDS:,} ids, what decode-shards decodes in one lockstep run].",
)
@click.option("-q", "--quiet", is_flag=True, help="Only the summary, no progress log.")
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED)
def verify(prefix, range_records, quiet, beam_args):
    """Decode every document of a shard set across Beam workers and check each against its
    record's length and BLAKE2b digest.

    Arguments after `--` go to Beam, as for `compress` (DirectRunner locally, Dataflow at scale).
    Writes PREFIX.verify.json (counts, and each failure with its file, line and records), prints
    a summary and one JSON line, and exits 1 unless every document the manifest counts is exact.
    """
    from pipelines.verify import VerifyError, run

    configure_logging(quiet)
    try:
        result = run(prefix, beam_args, own_options=own_flags(), range_records=range_records)
    except VerifyError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        f"{result['verified']:,} of {result['expected_documents']:,} documents exact ({result['raw_bytes']:,} bytes, "
        f"{result['bytes_per_second']:,.0f} B/s); {len(result['failures']):,} failure(s)"
    )
    for failure in result["failures"][:10]:
        where = f"{failure.get('file', prefix)}:{failure.get('line') or '-'}: {failure.get('records', '')}"
        click.echo(f"fails: {where}: {failure['error']}", err=True)
    click.echo(json.dumps({k: v for k, v in result.items() if k != "failures"} | {"failures": len(result["failures"])}))
    if not result["exact"]:
        sys.exit(1)


@click.command("inspect")
@click.argument("prefix")
@click.option("--records", "count", type=click.IntRange(min=0), default=3, show_default=True)
def inspect(prefix, count):
    """Print a shard prefix's manifest and its first records, as ids and as decoded text."""
    from compressor.shards.records import Record
    from compressor.shards.shardset import ManifestError, read_manifest, read_shard
    from compressor.tokenizers import parse_spec

    try:
        m = read_manifest(prefix)
    except ManifestError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(manifest_table(m))
    shards = [s for s in m["shards"] if s["records"]]
    if not count or not shards:
        return
    tokenizer = parse_spec(m["tokenizer"])
    for i, data in enumerate(read_shard(shards[0]["path"])):
        if i == count:
            break
        record = Record.from_bytes(data)
        click.echo(
            f"\nrecord {record.index} of file {record.file} batch {record.batch} ({shards[0]['path']}): "
            f"{record.ids.size} ids, "
            f"{len(record.docs)} document(s) ending here, {record.raw_bytes:,} raw bytes"
        )
        click.echo(f"  ids: {record.ids[:24].tolist()}{' ...' if record.ids.size > 24 else ''}")
        start = 0
        for row in record.docs:
            end = int(row["end"])
            if start == 0 and record.continues:
                click.echo(f"  line {row['line']}: begins in an earlier record")
            else:
                text = tokenizer.try_decode_batch([record.ids[start:end]])[0]
                shown = repr(text) if isinstance(text, ValueError) else repr(text.decode("utf-8", "replace")[:200])
                click.echo(f"  line {row['line']}: {shown}")
            start = end
