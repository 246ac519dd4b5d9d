"""`eqinfo verify`: every document of a shard set decoded from its records and checked, as a Beam job.

    shards --ranges of records--> Spread --> Verify (decode + BLAKE2b per document)
           --> counts, failures --> PREFIX.verify.json

A range owns the batches that begin in it and reads each through to its end (`decode.read_range`),
so every batch is decoded by exactly one worker, whole, in parallel lanes; a worker holds one
batch's records and one decoding batch of ids.  Nothing stops at a failure: each names its file,
line and records, and the counts are Beam metrics and in the JSON.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.utils.shared import Shared

from compressor.io import storage
from compressor.shards import shardset
from pipelines.coding import LoadedTokenizer
from pipelines.config import DECODE_IDS
from pipelines.counts import Summed
from pipelines.decode import check_documents, read_range
from pipelines.inputs import NAMESPACE
from pipelines.options import BeamOptionError, pipeline_options, threads_per_worker

FAILURES = "failures"

log = logging.getLogger(__name__)


class VerifyError(ValueError):
    """A verification that cannot start: the message says what to change."""


@dataclass
class Tally(Summed):
    documents: int = 0
    verified: int = 0
    failed: int = 0
    raw_bytes: int = 0
    problems: int = 0  # failures that name no document (records unreadable or missing)


def ranges(manifest: dict, size: int | None = None) -> list[tuple[str, int, int]]:
    """(shard path, first record, end) work items covering every record of every shard, `size`
    records each: by default as many as hold DECODE_IDS ids, so that a work item fills the
    lanes as decode-shards does, and the items of a large shard set spread over the workers."""
    step = size or max(1, DECODE_IDS // manifest["seq_len"])
    return [
        (s["path"], start, min(start + step, s["records"]))
        for s in manifest["shards"]
        for start in range(0, s["records"], step)
    ]


class VerifyRange(beam.DoFn):
    """(shard, start, stop) -> its Tally, and each failure (tagged)."""

    def __init__(self, spec: str, files: list[str], shared: Shared, threads: int | None = None):
        self.spec, self.files, self.shared, self.threads = spec, files, shared, threads
        self.counters = {f.name: Metrics.counter(NAMESPACE, f"verify_{f.name}") for f in fields(Tally)}

    def setup(self) -> None:
        self.tokenizer = self.shared.acquire(lambda: LoadedTokenizer(self.spec, self.threads)).tokenizer

    def process(self, item: tuple[str, int, int]):
        path, start, stop = item
        tally = Tally()
        for checked in check_documents(self.tokenizer, self.files, read_range(path, start, stop)):
            if checked.line is None:
                tally.problems += 1
            else:
                tally.documents += 1
                tally.raw_bytes += checked.raw_bytes
                if checked.error is None:
                    tally.verified += 1
                else:
                    tally.failed += 1
            if checked.error is not None:
                yield beam.pvalue.TaggedOutput(FAILURES, {**checked.as_dict(), "shard": path})
        for name, value in tally.as_dict().items():
            self.counters[name].inc(value)
        yield tally


def report(_, prefix: str, manifest: dict, tally: Tally, failures: list[dict], started: float) -> dict:
    """Writes PREFIX.verify.json: the counts, whether every document is exact, each failure."""
    expected = manifest["counts"]["documents"]
    order = {path: i for i, path in enumerate(manifest["files"])}
    failures = sorted(failures, key=lambda f: (order.get(f["file"], -1), f["line"] or 0, f["records"]))
    seconds = time.time() - started
    result = {
        "prefix": prefix,
        "tokenizer": manifest["tokenizer"],
        "expected_documents": expected,
        **tally.as_dict(),
        "exact": tally.verified == expected and not failures,
        "wall_seconds": round(seconds, 3),
        "bytes_per_second": round(tally.raw_bytes / max(seconds, 1e-9), 1),
        "failures": failures,
    }
    if tally.documents != expected:
        result["failures"].append({"error": f"the manifest counts {expected} documents; {tally.documents} were found"})
    storage.write_bytes(shardset.verify_path(prefix), (json.dumps(result, indent=1) + "\n").encode())
    return result


def run(
    prefix: str, beam_args: Sequence[str], own_options: Sequence[str] = (), range_records: int | None = None
) -> dict:
    """Runs the verification job to its end; returns what it wrote to PREFIX.verify.json."""
    try:
        options = pipeline_options(beam_args, own_options=own_options)
        manifest = shardset.read_manifest(prefix)
    except (BeamOptionError, shardset.ManifestError) as exc:
        raise VerifyError(str(exc)) from None
    standard = options.view_as(StandardOptions)
    standard.runner = standard.runner or "DirectRunner"
    items = ranges(manifest, range_records)
    log.info(
        "verifying %d shard(s) of %s in %d range(s) on %s", len(manifest["shards"]), prefix, len(items), standard.runner
    )
    started = time.time()
    p = beam.Pipeline(options=options)
    checked = (
        p
        | "Ranges" >> beam.Create(items)
        | "Spread" >> beam.Reshuffle()
        | "Verify"
        >> beam.ParDo(
            VerifyRange(manifest["tokenizer"], manifest["files"], Shared(), threads_per_worker(options))
        ).with_outputs(FAILURES, main="tallies")
    )
    tally = checked.tallies | "Total" >> beam.CombineGlobally(Tally.total)
    _ = (
        p
        | "Once" >> beam.Create([None])
        | "Report"
        >> beam.Map(
            report, prefix, manifest, beam.pvalue.AsSingleton(tally), beam.pvalue.AsList(checked[FAILURES]), started
        )
    )
    p.run().wait_until_finish()
    return json.loads(storage.read_bytes(shardset.verify_path(prefix)))
