"""Shards -> documents: every document rebuilt from the records alone, and checked.

Records are grouped by input file and put back in order, each file's id stream is cut at the
documents' ends, and the documents are decoded many at a time by the tokenizer the manifest
names (M1 included).  A document is good when it decodes and its length and BLAKE2b digest
match what the record says; anything else is reported with the records it spans.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from compressor.io import storage
from compressor.shards import shardset
from compressor.shards.records import Record, digest
from compressor.tokenizers import Tokenizer, parse_spec
from compressor.tokenizers.base import decoded_record
from pipelines.packing import CodedDoc, PackingError, unpack

BATCH_IDS = 1 << 19  # ids decoded together (many documents in lockstep)


@dataclass
class DecodeSummary:
    documents: int = 0
    decoded: int = 0
    raw_bytes: int = 0
    records: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.failures and self.decoded == self.documents


def read_records(manifest: dict) -> dict[int, list[Record]]:
    """Every record of every shard, grouped by input file, in record order."""
    by_file: dict[int, list[Record]] = defaultdict(list)
    for shard in manifest["shards"]:
        for data in shardset.read_shard(shard["path"]):
            record = Record.from_bytes(data)
            by_file[record.file].append(record)
    for records in by_file.values():
        records.sort(key=lambda r: r.index)
    return dict(sorted(by_file.items()))


def _documents(manifest: dict, summary: DecodeSummary) -> Iterator[tuple[str, CodedDoc, list[int]]]:
    files = manifest["files"]
    for file, records in read_records(manifest).items():
        summary.records += len(records)
        path = files[file] if file < len(files) else f"<file {file}>"
        try:
            for doc, spans in unpack(records):
                yield path, doc, spans
        except PackingError as exc:
            summary.failures.append(f"{path}: {exc}")


def _line(path: str, doc: CodedDoc, spans: list[int], result: bytes | ValueError) -> tuple[dict, str | None]:
    """The output line for one document, and the failure to report (None if it is exact)."""
    where = {"file": path, "line": doc.line}
    if isinstance(result, ValueError):
        error = f"records {spans[0]}-{spans[-1]}: does not decode ({result})"
    elif len(result) != doc.raw_bytes or digest(result) != doc.digest:
        error = f"records {spans[0]}-{spans[-1]}: decodes to {len(result)} bytes that fail the record's checksum"
    else:
        return {**where, **decoded_record(result)}, None
    return {**where, "error": error}, f"{path}:{doc.line}: {error}"


def decode_shards(prefix: str, output: str, progress: Callable[[int], None] | None = None) -> DecodeSummary:
    """Writes every document of a shard prefix to `output` (JSON lines, in input order)."""
    manifest = shardset.read_manifest(prefix)
    tokenizer: Tokenizer = parse_spec(manifest["tokenizer"])
    summary = DecodeSummary()
    tmp = storage.staging_path(output)
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            batch: list[tuple[str, CodedDoc, list[int]]] = []

            def flush() -> None:
                results = tokenizer.try_decode_batch([d.ids for _, d, _ in batch])
                for (path, doc, spans), result in zip(batch, results, strict=True):
                    line, failure = _line(path, doc, spans, result)
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                    summary.documents += 1
                    summary.raw_bytes += doc.raw_bytes
                    if failure is None:
                        summary.decoded += 1
                    else:
                        summary.failures.append(failure)
                    if progress is not None:
                        progress(doc.raw_bytes)
                batch.clear()

            size = 0
            for item in _documents(manifest, summary):
                batch.append(item)
                size += item[1].ids.size
                if size >= BATCH_IDS:
                    flush()
                    size = 0
            if batch:
                flush()
        expected = manifest["counts"]["documents"]
        if summary.documents != expected:
            summary.failures.append(f"the manifest counts {expected} documents; the shards hold {summary.documents}")
        storage.publish(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return summary
