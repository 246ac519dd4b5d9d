"""Shards -> documents: every document rebuilt from the records alone, and checked.

A shard holds whole batches in order, so a reader streams it: each batch's records are put
together (`packing.unpack`), its documents decoded many at a time by the tokenizer the manifest
names (M1 included; Equal-Info windows in parallel lanes), and each checked against its record's
length and BLAKE2b digest.  It holds one batch's records and DECODE_IDS ids of documents, never
a shard.  `decode-shards` runs this over every shard in order to get the text back; `eqinfo
verify` (pipelines/verify.py) runs it over ranges of records across workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from compressor.io import storage
from compressor.shards import shardset
from compressor.shards.records import Record, RecordError, digest
from compressor.tokenizers import Tokenizer, parse_spec
from compressor.tokenizers.base import decoded_record
from pipelines.config import DECODE_IDS
from pipelines.packing import CodedDoc, PackingError, batches, unpack


@dataclass
class Checked:
    """One document's outcome (text when it decoded exactly), or a failure that names no
    document (`line` None: records that cannot be read or put together)."""

    file: str
    line: int | None
    records: str  # which records: "batch B records I-J" of the file, or a shard's record
    raw_bytes: int = 0
    text: bytes | None = None
    error: str | None = None

    def describe(self) -> str:
        return f"{self.file}{'' if self.line is None else f':{self.line}'}: {self.records}: {self.error}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "records": self.records, "error": self.error}


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


def read_range(path: str, start: int = 0, stop: int | None = None) -> Iterator[Record | Checked]:
    """The records of the batches that begin in positions [start, stop) of a shard, in order,
    read through to the end of the last such batch; a record that cannot be read is a Checked
    failure (reported by the range it lies in)."""
    inside = True
    for position, data in enumerate(shardset.read_shard(path, start), start):
        beyond = stop is not None and position >= stop
        try:
            record = Record.from_bytes(data)
        except RecordError as exc:
            if beyond:
                return
            yield Checked(path, None, f"shard record {position}", error=f"unreadable ({exc})")
            continue
        if record.index == 0:
            if beyond:
                return
            inside = True
        elif position == start and start > 0:
            inside = False  # this batch began in the range before
        if inside:
            yield record


def check_documents(tokenizer: Tokenizer, files: list[str], items: Iterable[Record | Checked]) -> Iterator[Checked]:
    """Records (and unreadable ones) in shard order -> every document decoded and checked."""
    pending: list[Checked] = []
    ids: list[CodedDoc] = []
    size = 0

    def flush() -> Iterator[Checked]:
        results = tokenizer.try_decode_batch([doc.ids for doc in ids])
        for out, doc, result in zip(pending, ids, results, strict=True):
            if isinstance(result, ValueError):
                out.error = f"does not decode ({result})"
            elif len(result) != doc.raw_bytes or digest(result) != doc.digest:
                out.error = f"decodes to {len(result)} bytes that fail the record's checksum"
            else:
                out.text = result
            yield out
        pending.clear()
        ids.clear()

    failed: list[Checked] = []  # what names no document, reported after its batch
    for group in batches(_records(items, failed)):
        first = group[0]
        path = files[first.file] if first.file < len(files) else f"<file {first.file}>"
        try:
            for doc, spans in unpack(group):
                pending.append(
                    Checked(path, doc.line, f"batch {first.batch} records {spans[0]}-{spans[-1]}", doc.raw_bytes)
                )
                ids.append(doc)
                size += doc.ids.size
                if size >= DECODE_IDS:
                    yield from flush()
                    size = 0
        except PackingError as exc:
            failed.append(Checked(path, None, f"batch {first.batch}", error=str(exc)))
        yield from failed
        failed.clear()
    if pending:
        yield from flush()
    yield from failed


def _records(items: Iterable[Record | Checked], failed: list[Checked]) -> Iterator[Record]:
    """The records of a stream; its unreadable-record failures set aside into `failed`."""
    for item in items:
        if isinstance(item, Checked):
            failed.append(item)
        else:
            yield item


def decode_shards(prefix: str, output: str, progress: Callable[[int], None] | None = None) -> DecodeSummary:
    """Writes every document of a shard prefix to `output` (JSON lines, in input order)."""
    manifest = shardset.read_manifest(prefix)
    tokenizer: Tokenizer = parse_spec(manifest["tokenizer"])
    summary = DecodeSummary(records=sum(s["records"] for s in manifest["shards"]))
    tmp = storage.staging_path(output)
    try:
        with open(tmp, "w", encoding="utf-8") as out:
            for shard in manifest["shards"]:
                for checked in check_documents(tokenizer, manifest["files"], read_range(shard["path"])):
                    if checked.line is None:
                        summary.failures.append(checked.describe())
                        continue
                    where = {"file": checked.file, "line": checked.line}
                    line = (
                        {**where, **decoded_record(checked.text)}
                        if checked.error is None
                        else {**where, "error": checked.error}
                    )
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                    summary.documents += 1
                    summary.raw_bytes += checked.raw_bytes
                    if checked.error is None:
                        summary.decoded += 1
                    else:
                        summary.failures.append(checked.describe())
                    if progress is not None:
                        progress(checked.raw_bytes)
        expected = manifest["counts"]["documents"]
        if summary.documents != expected:
            summary.failures.append(f"the manifest counts {expected} documents; the shards hold {summary.documents}")
        storage.publish(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return summary
