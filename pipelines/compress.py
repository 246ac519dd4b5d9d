"""The compression pipeline: corpus files -> token shards, a manifest and dead letters.

    files --Read--> document batches --Spread--> Code (M1 + C coder) --per file--> records
          --per shard--> ArrayRecord shards --> manifest.json, rejected.jsonl

Everything that can fail on the user's side (the spec, the models, the input patterns, the
geometry) is checked by `plan` before the pipeline is built, so it fails before any worker
starts.  Beam's own options pass through unchanged: DirectRunner locally, Dataflow at scale.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.utils.shared import Shared

from compressor.io import storage
from compressor.shards import shardset
from compressor.shards.records import id_bytes_for
from compressor.tokenizers import SpecError, parse_spec
from pipelines import manifest, shards
from pipelines.coding import CodeBatch, CodedBatch, Counts
from pipelines.config import Config
from pipelines.inputs import NAMESPACE, REJECTED, ReadBatches
from pipelines.packing import check_geometry, pack

log = logging.getLogger(__name__)


class PlanError(ValueError):
    """A run that cannot start: the message says what to change."""


def plan(config: Config, options: PipelineOptions) -> dict:
    """Checks everything that can be checked before a worker starts; the run's fixed facts."""
    if config.num_shards < 1:
        raise PlanError(f"--num-shards must be at least 1, got {config.num_shards}")
    try:
        tokenizer = parse_spec(config.tokenizer)  # loads M1 / SentencePiece, fits simple models
    except (SpecError, OSError) as exc:
        raise PlanError(f"--tokenizer: {exc}") from None
    try:
        check_geometry(config.seq_len, tokenizer.unit_tokens)
        files = storage.expand(config.inputs)
        models = manifest.model_files(tokenizer.spec)
    except (ValueError, OSError) as exc:
        raise PlanError(str(exc)) from None
    return {
        "tokenizer": tokenizer.spec,
        "method": tokenizer.name,
        "vocab_size": tokenizer.vocab_size,
        "id_bytes": id_bytes_for(tokenizer.vocab_size),
        "unit_tokens": tokenizer.unit_tokens,
        "seq_len": config.seq_len,
        "compression": config.compression or shards.compression_for(tokenizer.name),
        "models": models,
        "files": files,
        "versions": manifest.versions(),
        "runner": str(options.view_as(StandardOptions).runner),
        "started": time.time(),
    }


def file_records(item: tuple[int, list[CodedBatch]], seq_len: int, unit: int, num_shards: int, id_bytes: int):
    """One file's coded batches -> (shard, (file, record index, record bytes)) for each record."""
    file, batches = item
    docs = (doc for b in sorted(batches, key=lambda b: b.batch) for doc in b.docs())
    records = Metrics.counter(NAMESPACE, "records")
    for record in pack(file, docs, seq_len, unit):
        records.inc()
        yield shards.shard_of(file, record.index, num_shards), (file, record.index, record.to_bytes(id_bytes))


def write_shard(item: tuple[int, list], prefix: str, num_shards: int, compression: str) -> dict:
    index, values = item
    info = shards.write_shard(prefix, index, num_shards, [v for v in values if v is not None], compression)
    Metrics.counter(NAMESPACE, "shards").inc()
    return info.as_dict()


def finish(_, prefix: str, fixed: dict, counts: Counts, written: list[dict], rejections: list[dict]) -> dict:
    """Writes the dead letters and the manifest once every shard is in place; removes what
    killed runs left half-written beside the prefix."""
    rejected: dict[str, int] = {}
    for r in rejections:
        rejected[r["reason"]] = rejected.get(r["reason"], 0) + 1
    result = manifest.build(fixed, counts.as_dict(), written, rejected)
    manifest.write(prefix, result, rejections, fixed["files"])
    for path in shards.stale_temporaries(prefix):
        storage.remove(path)
    return result


def build(p: beam.Pipeline, config: Config, fixed: dict) -> None:
    """Adds the compression transforms to a pipeline."""
    files, n = fixed["files"], config.num_shards
    read = (
        p
        | "Files" >> beam.Create(list(range(len(files))))
        | "SpreadFiles" >> beam.Reshuffle()
        | "Read"
        >> beam.ParDo(ReadBatches(files, config.batch_bytes, config.max_document_bytes)).with_outputs(
            REJECTED, main="batches"
        )
    )
    coded = (
        read.batches
        | "SpreadBatches" >> beam.Reshuffle()
        | "Code"
        >> beam.ParDo(CodeBatch(fixed["tokenizer"], files, Shared(), config.coder_threads)).with_outputs(
            REJECTED, main="batches"
        )
    )
    records = (
        coded.batches
        | "ByFile" >> beam.Map(lambda b: (b.file, b))
        | "GroupFiles" >> beam.GroupByKey()
        | "Records" >> beam.FlatMap(file_records, config.seq_len, fixed["unit_tokens"], n, fixed["id_bytes"])
    )
    every_shard = p | "ShardIds" >> beam.Create([(i, None) for i in range(n)])  # empty shards are written too
    written = (
        (records, every_shard)
        | "AllShards" >> beam.Flatten()
        | "GroupShards" >> beam.GroupByKey()
        | "Write" >> beam.Map(write_shard, config.output, n, fixed["compression"])
    )
    counts = coded.batches | "Counts" >> beam.Map(lambda b: b.counts) | "Total" >> beam.CombineGlobally(Counts.total)
    rejections = (read[REJECTED], coded[REJECTED]) | "Rejected" >> beam.Flatten()
    _ = (
        p
        | "Once" >> beam.Create([None])
        | "Manifest"
        >> beam.Map(
            finish,
            config.output,
            fixed,
            beam.pvalue.AsSingleton(counts),
            beam.pvalue.AsList(written),
            beam.pvalue.AsList(rejections),
        )
    )


def run(config: Config, beam_args: Sequence[str], wait: bool = True):
    """Plans, builds and runs the pipeline; returns Beam's PipelineResult."""
    options = PipelineOptions(list(beam_args), save_main_session=False)
    standard = options.view_as(StandardOptions)
    standard.runner = standard.runner or "DirectRunner"
    fixed = plan(config, options)
    direct = options.view_as(DirectOptions)
    if config.coder_threads is None and direct.direct_running_mode == "multi_processing":
        cores = len(os.sched_getaffinity(0))  # one worker process per core unless told otherwise
        config.coder_threads = max(1, cores // (direct.direct_num_workers or cores))
    log.info(
        "%d input file(s) -> %s-NNNNN-of-%05d%s with %s on %s",
        len(fixed["files"]),
        config.output,
        config.num_shards,
        shardset.SUFFIX,
        fixed["tokenizer"],
        fixed["runner"],
    )
    p = beam.Pipeline(options=options)
    build(p, config, fixed)
    result = p.run()
    if wait:
        result.wait_until_finish()
    return result
