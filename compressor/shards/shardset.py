"""A shard set on disk, read back: `PREFIX-FFFFF-PPPPP.array_record` files and `PREFIX.manifest.json`.

Shard FFFFF-PPPPP holds part PPPPP of input file FFFFF (an index into the manifest's `files`):
consecutive coding batches of that file, whole, in order, up to the run's `shard_bytes` of text.

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


def shard_path(prefix: str, file: int, part: int) -> str:
    return f"{prefix}-{file:05d}-{part:05d}{SUFFIX}"


def shard_pattern(prefix: str) -> str:
    """A glob that matches the prefix's shard names and no other shard set's."""
    return f"{prefix}-[0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9]{SUFFIX}"


def manifest_path(prefix: str) -> str:
    return f"{prefix}.manifest.json"


def verify_path(prefix: str) -> str:
    return f"{prefix}.verify.json"


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


READ_CHUNK = 1024  # records read at once: what a reader holds, whatever the shard's size


def read_shard(path: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """The records of one shard in order, from `start` to `stop` (default: all); a gs:// shard
    is staged locally first."""
    yield from read_array_records(storage.local_copy(path), start, stop)


def read_array_records(path, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """Records of a local ArrayRecord file, READ_CHUNK at a time."""
    reader = ArrayRecordReader(str(path))
    try:
        n = reader.num_records() if stop is None else min(stop, reader.num_records())
        for first in range(start, n, READ_CHUNK):
            yield from reader.read(list(range(first, min(n, first + READ_CHUNK))))
    finally:
        reader.close()
