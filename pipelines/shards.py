"""Token shards: ArrayRecord files of records, written whole or not at all, local or on GCS.

A shard is `PREFIX-00000-of-00064.array_record`, one record per M2 training sequence, with
`group_size:1` so that a loader reads any record directly.  It is written under a temporary
name and renamed (or, for gs://, written locally and uploaded to its final name), so a killed or
retried job never leaves a half shard visible.  Records are ordered by (file, index) within a
shard and assigned to shards by a rule of their own, so shard contents depend only on the input
and the spec: never on the runner, the workers or the bundles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from array_record.python.array_record_module import ArrayRecordWriter

from compressor.io import storage
from compressor.shards.records import Record
from compressor.shards.shardset import SUFFIX, shard_path

# The AC methods' ids are close to random bytes: compressing them costs time and saves nothing.
COMPRESSION = {"bytes": "zstd:3", "sentencepiece": "zstd:3"}
DEFAULT_COMPRESSION = "uncompressed"


def compression_for(method: str) -> str:
    return COMPRESSION.get(method, DEFAULT_COMPRESSION)


def shard_of(file: int, index: int, count: int) -> int:
    """Which shard a file's record goes to: consecutive records to consecutive shards."""
    return (file + index) % count


@dataclass
class ShardInfo:
    """What one shard holds (for the manifest)."""

    index: int
    path: str
    records: int
    ids: int
    raw_bytes: int
    documents: int
    bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


def write_shard(prefix: str, index: int, count: int, records: Iterable[tuple[int, int, bytes]], compression: str):
    """Writes one shard from (file, record index, record bytes) in any order; returns its ShardInfo."""
    final = shard_path(prefix, index, count)
    ordered = sorted(records)
    tmp = storage.staging_path(final)
    ids = raw = docs = 0
    try:
        writer = ArrayRecordWriter(tmp, f"group_size:1,{compression}")
        for _, _, data in ordered:
            record = Record.from_bytes(data)
            ids, raw, docs = ids + record.ids.size, raw + record.raw_bytes, docs + len(record.docs)
            writer.write(data)
        writer.close()
        size = Path(tmp).stat().st_size
        storage.publish(tmp, final)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return ShardInfo(index, final, len(ordered), ids, raw, docs, size)


def stale_temporaries(prefix: str) -> list[str]:
    """Local temporary shard files that a killed run left beside the prefix."""
    if storage.is_gcs_url(prefix):
        return []  # remote shards are staged in the local temporary directory, never in the bucket
    head, _, base = prefix.rpartition("/")
    return storage.match(f"{head or '.'}/.{base}-*-of-*{SUFFIX}{storage.TMP_MARK}*")
