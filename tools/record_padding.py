"""What cutting records per batch costs in padding: a shard set's PAD ids against a cut per file.

    python tools/record_padding.py PREFIX [PREFIX ...]

Reads each shard set's documents back from its records (in order) and packs every file's
documents again as one stream, as layout 1 did, with the same seq_len and unit; prints both
padding figures, as PAD ids and as a share of the records' slots.
"""

from __future__ import annotations

import json
import sys

from compressor.shards.records import Record
from compressor.shards.shardset import read_manifest, read_shard
from pipelines.packing import batches, pack, unpack


def padding(prefix: str) -> dict:
    manifest = read_manifest(prefix)
    seq_len, unit = manifest["seq_len"], manifest["unit_tokens"]
    docs: dict[int, list] = {}
    batch_count = 0
    for shard in manifest["shards"]:
        for group in batches(Record.from_bytes(data) for data in read_shard(shard["path"])):
            batch_count += 1
            docs.setdefault(group[0].file, []).extend(doc for doc, _ in unpack(group))
    per_file = sum(sum(1 for _ in pack(file, 0, stream, seq_len, unit)) for file, stream in docs.items())
    tokens, records = manifest["counts"]["tokens"], manifest["counts"]["records"]
    return {
        "prefix": prefix,
        "tokenizer": manifest["tokenizer"],
        "batches": batch_count,
        "tokens": tokens,
        "per_batch_pad_ids": records * seq_len - tokens,
        "per_batch_pad_share": round((records * seq_len - tokens) / (records * seq_len), 5),
        "per_file_pad_ids": per_file * seq_len - tokens,
        "per_file_pad_share": round((per_file * seq_len - tokens) / (per_file * seq_len), 5),
        "extra_records": records - per_file,
    }


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(padding(arg)))
