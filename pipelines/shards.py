"""Token shards: ArrayRecord files of records, written whole or not at all, local or on GCS.

Shard `PREFIX-FFFFF-PPPPP.array_record` holds part PPPPP of input file FFFFF: consecutive coding
batches of that file, whole and in order, one record per M2 training sequence, with
`group_size:1` so that a loader reads any record directly.  Which batches form a part is a rule
of the input alone (`pipelines/inputs.py`), so shard contents never depend on the runner, the
workers or the bundles.

No step holds a shard.  Each batch's records are written as a part file under `PREFIX.parts/`
(`write_part`, one batch in memory); a shard's writer then streams its parts into the shard in
batch order, READ_CHUNK records at a time (`write_shard`).  Every file is written under a
temporary name and renamed (or, for gs://, written locally and uploaded to its final name), so a
killed or retried job never leaves a half file visible, and a retried step rewrites the same
bytes.  The parts are removed once every shard is in place (`compress.finish`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from array_record.python.array_record_module import ArrayRecordWriter

from compressor.io import storage
from compressor.shards.records import Record
from compressor.shards.shardset import READ_CHUNK, SUFFIX, read_array_records, shard_path, shard_pattern

# The AC methods' ids are close to random bytes: compressing them costs time and saves nothing.
COMPRESSION = {"bytes": "zstd:3", "sentencepiece": "zstd:3"}
DEFAULT_COMPRESSION = "uncompressed"
PART_OPTIONS = "group_size:1,uncompressed"  # parts are read back once, by the shard's writer


def compression_for(method: str) -> str:
    return COMPRESSION.get(method, DEFAULT_COMPRESSION)


def parts_dir(prefix: str) -> str:
    return f"{prefix}.parts"


def held(*steps: dict[str, int]) -> dict[str, int]:
    """Per step, the most bytes one element held at once, over several elements."""
    out: dict[str, int] = {}
    for step in steps:
        for name, value in step.items():
            out[name] = max(out.get(name, 0), value)
    return out


@dataclass
class Counted:
    """What a run of records holds (a part's or a shard's, for the manifest)."""

    records: int = 0
    ids: int = 0
    raw_bytes: int = 0
    documents: int = 0

    def add(self, record: Record) -> None:
        self.records, self.ids = self.records + 1, self.ids + record.ids.size
        self.raw_bytes, self.documents = self.raw_bytes + record.raw_bytes, self.documents + len(record.docs)


@dataclass
class PartInfo(Counted):
    """One batch's records, written as a part of its shard."""

    file: int = 0
    part: int = 0
    batch: int = 0
    path: str = ""
    held: dict[str, int] = field(default_factory=dict)


@dataclass
class ShardInfo(Counted):
    """What one shard holds (for the manifest)."""

    file: int = 0
    part: int = 0
    path: str = ""
    batches: int = 0
    bytes: int = 0
    held: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _write(final: str, options: str, records: Iterable[bytes]) -> int:
    """Writes an ArrayRecord file atomically from serialized records; returns its size."""
    tmp = storage.staging_path(final)
    try:
        writer = ArrayRecordWriter(tmp, options)
        for data in records:
            writer.write(data)
        writer.close()
        size = Path(tmp).stat().st_size
        storage.publish(tmp, final)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return size


def write_part(prefix: str, part: int, records: list[Record], id_bytes: int, held_so_far: dict[str, int]) -> PartInfo:
    """Writes one batch's records (all of one file and batch) as a part file."""
    first = records[0]
    path = f"{parts_dir(prefix)}/{first.file:05d}-{part:05d}-{first.batch:06d}{SUFFIX}"
    info = PartInfo(file=first.file, part=part, batch=first.batch, path=path)
    data = []
    for record in records:
        info.add(record)
        data.append(record.to_bytes(id_bytes))
    info.held = held(held_so_far, {"pack": sum(map(len, data)) + sum(r.ids.nbytes for r in records)})
    _write(path, PART_OPTIONS, data)
    return info


def write_shard(prefix: str, parts: Iterable[PartInfo], compression: str) -> ShardInfo:
    """Streams a shard's parts (in any order) into the shard, in batch order."""
    parts = sorted(parts, key=lambda p: p.batch)
    info = ShardInfo(file=parts[0].file, part=parts[0].part, batches=len(parts))
    info.path = shard_path(prefix, info.file, info.part)
    most = 0  # bytes of the largest READ_CHUNK of records read at once

    def records() -> Iterable[bytes]:
        nonlocal most
        for part in parts:
            count = chunk = 0
            with storage.local_file(part.path) as local:
                for data in read_array_records(local):
                    chunk = len(data) if count % READ_CHUNK == 0 else chunk + len(data)
                    most, count = max(most, chunk), count + 1
                    info.add(Record.from_bytes(data))
                    yield data
            if count != part.records:
                raise ValueError(f"{part.path}: {count} records, where {part.records} were written")

    info.bytes = _write(info.path, f"group_size:1,{compression}", records())
    info.held = held(*(p.held for p in parts), {"write": most})
    return info


def stale_files(prefix: str, written: Iterable[str]) -> list[str]:
    """What earlier runs left beside the prefix: local temporary shards of killed runs, and shards
    of this prefix that this run did not write (an earlier run over other input)."""
    keep = set(written)
    found = [p for p in storage.match(shard_pattern(prefix)) if p not in keep]
    if not storage.is_gcs_url(prefix):  # remote files are staged in the local temporary directory
        head, _, base = prefix.rpartition("/")
        found += storage.match(f"{head or '.'}/.{base}-*{SUFFIX}{storage.TMP_MARK}*")
    return found
