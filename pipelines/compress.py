"""The compression pipeline: corpus files -> token shards, a manifest and dead letters.

    files --Read--> document batches --Spread--> Code (M1 + C coder) --Pack--> a part file per batch
          --per shard: its parts' names--> Write (parts streamed in batch order) --> ArrayRecord shards
          --> manifest.json, rejected.jsonl

What each step holds at most, whatever the size of a file or of the corpus: Read, the batch it
fills (about --batch-bytes of text); Code, one batch and its ids; Pack, one batch's records;
Write, READ_CHUNK records and the names of its parts.  Each step reports it as a Beam
Distribution (`held_bytes_STEP`), and the manifest keeps the maxima (`held_bytes`).

Everything that can fail on the user's side (the spec, the models, the input patterns, the
geometry) is checked by `plan` before the pipeline is built, so it fails before any worker
starts.  Beam's own options pass through unchanged: DirectRunner locally, Dataflow at scale.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.utils.shared import Shared

from compressor.io import storage
from compressor.shards import shardset
from compressor.shards.records import id_bytes_for
from compressor.tokenizers import SpecError, parse_spec
from compressor.tokenizers.spec import Spec
from pipelines import manifest, shards
from pipelines.coding import CodeBatch, CodedBatch, Counts
from pipelines.config import BATCH_BYTES, LANE_BYTES, Config
from pipelines.inputs import NAMESPACE, REJECTED, ReadBatches, held_metric
from pipelines.options import BeamOptionError, pipeline_options, threads_per_worker
from pipelines.packing import check_geometry, pack

log = logging.getLogger(__name__)


class PlanError(ValueError):
    """A run that cannot start: the message says what to change."""


def batch_bytes_for(tokenizer, options: PipelineOptions) -> int:
    """The default batch: LANE_BYTES for each lane of the device M1 will code on (a Dataflow
    worker's GPU when the job asks for one, else what torch sees here), or BATCH_BYTES without M1.
    A rule of the command and the machine that launches it, never of a worker's: the batches
    cut the records, so every worker must cut them alike."""
    lanes = getattr(getattr(tokenizer, "model", None), "lanes", None)
    if lanes is None:
        return BATCH_BYTES
    service = options.view_as(GoogleCloudOptions).dataflow_service_options or []
    if any("worker_accelerator" in option for option in service):
        from compressor.models.m1.bytemodel import DEFAULT_LANES

        lanes = DEFAULT_LANES["cuda"]
    return lanes * LANE_BYTES


def output_facts(tokenizer, prefix: str, compression: str | None) -> dict:
    """What differs between the outputs of one run: the tokenizer each is cut for, and where."""
    return {
        "output": prefix,
        "tokenizer": tokenizer.spec,
        "method": tokenizer.name,
        "vocab_size": tokenizer.vocab_size,
        "id_bytes": id_bytes_for(tokenizer.vocab_size),
        "unit_tokens": tokenizer.unit_tokens,
        "compression": compression or shards.compression_for(tokenizer.name),
    }


def siblings(tokenizer, also: Sequence[tuple[int, str]]) -> list:
    """The tokenizers of --also-output: the spec at other vocabularies, which cut the same bits."""
    if also and not hasattr(tokenizer, "encode_widths"):
        raise PlanError(
            f"--also-output: {tokenizer.name} does not code a bitstream; only ac, static_ac and equal_info_ac "
            "have bits that several token sizes cut"
        )
    out = []
    for vocab, _ in also:
        try:
            out.append(parse_spec(str(Spec.parse(tokenizer.spec).with_options(v=vocab))))
        except (SpecError, OSError) as exc:
            raise PlanError(f"--also-output: {exc}") from None
    return out


def plan(config: Config, options: PipelineOptions) -> dict:
    """Checks everything that can be checked before a worker starts; the run's fixed facts."""
    if config.shard_bytes < 1 or (config.batch_bytes or 1) < 1:
        raise PlanError("--shard-bytes and --batch-bytes must be at least 1")
    try:
        tokenizer = parse_spec(config.tokenizer)  # loads M1 / SentencePiece, fits simple models
    except (SpecError, OSError) as exc:
        raise PlanError(f"--tokenizer: {exc}") from None
    members = [tokenizer, *siblings(tokenizer, config.also)]
    prefixes = [config.output, *(prefix for _, prefix in config.also)]
    if len(set(prefixes)) < len(prefixes):
        raise PlanError(f"--output and --also-output name the same prefix twice: {', '.join(prefixes)}")
    config.batch_bytes = config.batch_bytes or batch_bytes_for(tokenizer, options)
    try:
        for member in members:
            check_geometry(config.seq_len, member.unit_tokens)
        files = storage.expand(config.inputs)
        models = manifest.model_files(tokenizer.spec)
    except (ValueError, OSError) as exc:
        raise PlanError(str(exc)) from None
    outputs = [output_facts(m, prefix, config.compression) for m, prefix in zip(members, prefixes, strict=True)]
    return {
        **outputs[0],
        "outputs": outputs,
        # The token bits of every output, when there are several: coded once, cut for each.
        "widths": [m.codec.token_bits for m in members] if config.also else None,
        "seq_len": config.seq_len,
        "batch_bytes": config.batch_bytes,
        "shard_bytes": config.shard_bytes,
        "models": models,
        "files": files,
        "versions": manifest.versions(),
        "runner": str(options.view_as(StandardOptions).runner),
        "started": time.time(),
        "coder_tag": f"eqinfo-coder-{uuid.uuid4().hex[:16]}",  # finds this run's coder when shared per machine
    }


def write_part(batch: CodedBatch, prefix: str, seq_len: int, unit: int, id_bytes: int):
    """A coded batch -> its records as a part file -> ((file, part), PartInfo) for its shard."""
    records = list(pack(batch.file, batch.batch, batch.docs(), seq_len, unit))
    info = shards.write_part(prefix, batch.part, records, id_bytes, batch.held)
    Metrics.counter(NAMESPACE, "records").inc(info.records)
    held_metric("pack").update(info.held["pack"])
    yield (info.file, info.part), info


def write_shard(item: tuple[tuple[int, int], list[shards.PartInfo]], prefix: str, compression: str) -> dict:
    _, parts = item
    info = shards.write_shard(prefix, parts, compression)
    Metrics.counter(NAMESPACE, "shards").inc()
    held_metric("write").update(info.held["write"])
    return info.as_dict()


def finish(
    _, prefix: str, fixed: dict, counts: Counts, written: list[dict], rejections: list[dict], coders: set[str]
) -> dict:
    """Writes the dead letters and the manifest once every shard is in place; removes the parts,
    and what killed or earlier runs left beside the prefix."""
    rejected: dict[str, int] = {}
    for r in rejections:
        rejected[r["reason"]] = rejected.get(r["reason"], 0) + 1
    result = manifest.build({**fixed, "coder_processes": len(coders)}, counts.as_dict(), written, rejected)
    manifest.write(prefix, result, rejections, fixed["files"])
    storage.remove_tree(shards.parts_dir(prefix))
    for path in shards.stale_files(prefix, [s["path"] for s in written]):
        storage.remove(path)
    return result


def build(p: beam.Pipeline, config: Config, fixed: dict) -> None:
    """Adds the compression transforms to a pipeline."""
    files = fixed["files"]
    read = (
        p
        | "Files" >> beam.Create(list(range(len(files))))
        | "SpreadFiles" >> beam.Reshuffle()
        | "Read"
        >> beam.ParDo(
            ReadBatches(files, config.batch_bytes, config.max_document_bytes, config.shard_bytes)
        ).with_outputs(REJECTED, main="batches")
    )
    coded = (
        read.batches
        | "SpreadBatches" >> beam.Reshuffle()
        | "Code"
        >> beam.ParDo(
            CodeBatch(
                fixed["tokenizer"],
                files,
                Shared(),
                config.coder_threads,
                config.share_coder,
                fixed["coder_tag"],
                fixed["widths"],
            )
        ).with_outputs(REJECTED, main="batches")
    )
    coders = (
        coded.batches
        | "Coders" >> beam.Map(lambda b: {b.coder})
        | "Distinct" >> beam.CombineGlobally(lambda sets: set().union(*sets))
    )
    rejections = (read[REJECTED], coded[REJECTED]) | "Rejected" >> beam.Flatten()
    outputs = fixed["outputs"]
    per_output = coded.batches | "ByOutput" >> beam.Partition(lambda b, n: b.output, len(outputs))
    for k, output in enumerate(outputs):
        name = (lambda step: step) if k == 0 else (lambda step, v=output["vocab_size"]: f"{step} v={v}")
        facts = {**fixed, **output}
        batches = per_output[k]
        written = (
            batches
            | name("Pack")
            >> beam.FlatMap(write_part, output["output"], config.seq_len, output["unit_tokens"], output["id_bytes"])
            | name("ByShard") >> beam.GroupByKey()  # a shard's part names and counts, never its records
            | name("Write") >> beam.Map(write_shard, output["output"], output["compression"])
        )
        counts = (
            batches
            | name("Counts") >> beam.Map(lambda b: b.counts)
            | name("Total") >> beam.CombineGlobally(Counts.total)
        )
        _ = (
            p
            | name("Once") >> beam.Create([None])
            | name("Manifest")
            >> beam.Map(
                finish,
                output["output"],
                facts,
                beam.pvalue.AsSingleton(counts),
                beam.pvalue.AsList(written),
                beam.pvalue.AsList(rejections),
                beam.pvalue.AsSingleton(coders),
            )
        )


def run(config: Config, beam_args: Sequence[str], wait: bool = True, own_options: Sequence[str] = ()):
    """Plans, builds and runs the pipeline; returns Beam's PipelineResult.  `own_options`: the
    calling command's flags, named in the error for one given to Beam by mistake."""
    try:
        options = pipeline_options(beam_args, own_options=own_options)
    except BeamOptionError as exc:
        raise PlanError(str(exc)) from None
    standard = options.view_as(StandardOptions)
    standard.runner = standard.runner or "DirectRunner"
    fixed = plan(config, options)
    config.coder_threads = config.coder_threads or threads_per_worker(options)
    log.info(
        "%d input file(s) -> %s-FFFFF-PPPPP%s (at most %s bytes of text each) with %s on %s",
        len(fixed["files"]),
        config.output,
        shardset.SUFFIX,
        f"{config.shard_bytes:,}",
        fixed["tokenizer"],
        fixed["runner"],
    )
    p = beam.Pipeline(options=options)
    build(p, config, fixed)
    result = p.run()
    if wait:
        result.wait_until_finish()
    return result
