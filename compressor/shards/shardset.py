"""A shard set on disk, read back: `PREFIX-00000-of-00008.array_record` files and `PREFIX.manifest.json`.

`pipelines/` writes shard sets; `m2_train/` and the decoders read them through this module,
which needs neither Beam nor the trainer.  Remote (gs://) shards are staged to local disk, since
ArrayRecord reads local files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from array_record.python.array_record_module import ArrayRecordReader

from compressor.io import storage
from compressor.shards.records import VERSION as RECORD_LAYOUT

FORMAT = "eqinfo-shards"
SUFFIX = ".array_record"


class ManifestError(ValueError):
    """A prefix without a readable manifest of this format."""


def shard_path(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}{SUFFIX}"


def manifest_path(prefix: str) -> str:
    return f"{prefix}.manifest.json"


def rejected_path(prefix: str) -> str:
    return f"{prefix}.rejected.jsonl"


def read_manifest(prefix: str) -> dict:
    """The manifest of a shard prefix; ManifestError if there is none or it is not ours."""
    path = manifest_path(prefix)
    try:
        manifest = json.loads(storage.read_bytes(path))
    except storage.StorageError as exc:
        raise ManifestError(f"{exc} (is {prefix!r} the --output of `eqinfo compress`?)") from None
    except ValueError as exc:
        raise ManifestError(f"{path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ManifestError(f"{path}: not an eqinfo shard manifest")
    if manifest.get("record_layout") != RECORD_LAYOUT:
        raise ManifestError(f"{path}: record layout {manifest.get('record_layout')}; this code reads {RECORD_LAYOUT}")
    return manifest


def local_shards(manifest: dict) -> list[str]:
    """Local paths of a manifest's non-empty shards (gs:// shards staged once into the cache)."""
    return [str(storage.local_copy(s["path"])) for s in manifest["shards"] if s["records"]]


def read_shard(path: str) -> Iterator[bytes]:
    """Every record of one shard, in order (a gs:// shard is staged locally first)."""
    reader = ArrayRecordReader(str(storage.local_copy(path)))
    try:
        n = reader.num_records()
        for start in range(0, n, 1024):
            yield from reader.read(list(range(start, min(n, start + 1024))))
    finally:
        reader.close()
