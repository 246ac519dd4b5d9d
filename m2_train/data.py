"""M2's data: the pipeline's ArrayRecord shards through Grain, one part per rank, resumable.

Grain's IndexSampler gives a seeded global shuffle of all records, each rank reading its own
share, and its iterator state (a few bytes of JSON) is saved with every checkpoint, so a
resumed run reads exactly the batches it would have read.  Remote shards are staged to local
disk first (ArrayRecord reads local files).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from compressor.shards import shardset
from compressor.shards.records import Record

logging.getLogger("absl").setLevel(logging.ERROR)  # Grain looks for jax's profiler and says so


@dataclass(frozen=True)
class Split:
    """A shard set as the trainer sees it."""

    prefix: str
    manifest: dict
    paths: list[str]

    @property
    def pad_id(self) -> int:
        return int(self.manifest["pad_id"])

    @property
    def seq_len(self) -> int:
        return int(self.manifest["seq_len"])

    @property
    def records(self) -> int:
        return int(self.manifest["counts"]["records"])


def open_split(prefix: str) -> Split:
    """Reads a shard prefix's manifest and stages its shards; ManifestError if it is not one."""
    manifest = shardset.read_manifest(prefix)
    if not manifest["counts"]["records"]:
        raise shardset.ManifestError(f"{prefix}: the shard set holds no records")
    return Split(prefix, manifest, shardset.local_shards(manifest))


def parse(data: bytes, pad_id: int) -> dict[str, np.ndarray]:
    record = Record.from_bytes(data)
    return {"ids": record.padded(pad_id), "raw_bytes": np.int64(record.raw_bytes)}


def loader(split: Split, batch: int, rank: int, world: int, seed: int):
    """A Grain DataLoader of {"ids": int64 [batch, seq_len], "raw_bytes": int64 [batch]} for one
    rank: a seeded shuffle of all records, repeated forever, each rank its share."""
    import grain

    class Parse(grain.transforms.Map):
        def map(self, data: bytes) -> dict[str, np.ndarray]:
            return parse(data, split.pad_id)

    sampler = grain.samplers.IndexSampler(
        split.records,
        shard_options=grain.sharding.ShardOptions(shard_index=rank, shard_count=world, drop_remainder=True),
        shuffle=True,
        num_epochs=None,
        seed=seed,
    )
    return grain.DataLoader(
        data_source=grain.sources.ArrayRecordDataSource(split.paths),
        sampler=sampler,
        operations=[Parse(), grain.transforms.Batch(batch, drop_remainder=True)],
        worker_count=0,
        # prefetch: 16 threads read and parse up to 500 records ahead of the step (Grain's defaults, made explicit)
        read_options=grain.ReadOptions(num_threads=16, prefetch_buffer_size=500),
    )


def whole_documents(source, limit: int) -> int:
    """The fewest records from the first that hold at least `limit` and end at a document's end:
    their ids are exactly the ids of the documents that end in them, so bits/byte stays exact."""
    end = min(limit, len(source))
    while end < len(source) and Record.from_bytes(source[end]).continues:
        end += 1
    return end


def every_record(
    split: Split, batch: int, rank: int, world: int, limit: int | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Each record of the split (or of its first `limit`, to a document's end) exactly once over
    all ranks (rank r: records r, r + world, ...), in batches of up to `batch`: what an exact
    evaluation needs."""
    import grain

    source = grain.sources.ArrayRecordDataSource(split.paths)
    mine = range(rank, len(source) if limit is None else whole_documents(source, limit), world)
    for start in range(0, len(mine), batch):
        rows = [parse(source[i], split.pad_id) for i in mine[start : start + batch]]
        yield {"ids": np.stack([r["ids"] for r in rows]), "raw_bytes": np.array([r["raw_bytes"] for r in rows])}
