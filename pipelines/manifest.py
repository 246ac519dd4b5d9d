"""Writing `PREFIX.manifest.json` and `PREFIX.rejected.jsonl`: what a compression run wrote, and what
it refused (compressor/shards/shardset.py reads them back).

The manifest names everything needed to use or reproduce the shards: the tokenizer spec and the
hashes of the models it loads, the input files (records refer to them by index), every shard
with its counts, the totals, every rejection counted by reason, versions and wall time.
"""

from __future__ import annotations

import json
import math
import platform
import time
from importlib.metadata import version

from compressor.codecs.parts import EXAMPLE_BYTES
from compressor.io import storage
from compressor.shards.records import VERSION as RECORD_LAYOUT
from compressor.shards.shardset import FORMAT, manifest_path, rejected_path
from compressor.tokenizers.spec import Spec
from pipelines.shards import held


def model_files(spec: str) -> dict[str, dict]:
    """The files a spec's models come from, with their SHA-256 (M1: its integer twin, which is
    what coding uses; SentencePiece: its model; fitted models: the text they were fitted on)."""
    from compressor.models.m1.bytemodel import INTEGER_FILE

    parsed = Spec.parse(spec)
    found = {}
    if parsed.get("m1"):
        found["m1"] = storage.join(parsed.get("m1"), INTEGER_FILE)
    if parsed.method == "sentencepiece":
        found["sentencepiece"] = parsed.get("model")
    if parsed.get("fit"):
        found["fit"] = parsed.get("fit")
    return {key: {"path": path, "sha256": storage.sha256(path)} for key, path in found.items()}


def versions() -> dict[str, str]:
    return {
        "eqinfo": version("eqinfo"),
        "apache_beam": version("apache-beam"),
        "array_record": version("array-record"),
        "torch": version("torch"),
        "python": platform.python_version(),
    }


def build(plan: dict, counts: dict, shards: list[dict], rejected: dict[str, int]) -> dict:
    """The manifest of a finished run; `plan` is what the launcher fixed before the run."""
    shards = sorted(shards, key=lambda s: (s["file"], s["part"]))
    most = held(*(s["held"] for s in shards))
    shards = [{k: v for k, v in s.items() if k != "held"} for s in shards]
    records = sum(s["records"] for s in shards)
    tokens = counts["tokens"]
    vocab = plan["vocab_size"]
    return {
        "format": FORMAT,
        "record_layout": RECORD_LAYOUT,
        "tokenizer": plan["tokenizer"],
        "method": plan["method"],
        "vocab_size": vocab,
        "pad_id": vocab,
        "id_bytes": plan["id_bytes"],
        "unit_tokens": plan["unit_tokens"],
        "seq_len": plan["seq_len"],
        "example_bytes": EXAMPLE_BYTES,
        # Shard FFFFF-PPPPP: part PPPPP of file FFFFF, whole batches of about batch_bytes of text
        # each, up to shard_bytes of text (records/layout in compressor/shards/).
        "batch_bytes": plan["batch_bytes"],
        "shard_bytes": plan["shard_bytes"],
        "record_compression": plan["compression"],
        "models": plan["models"],
        "files": plan["files"],
        "counts": {
            **counts,
            "records": records,
            "padding_ids": records * plan["seq_len"] - tokens,
            "shards": len(shards),
            "shard_bytes": sum(s["bytes"] for s in shards),
            "rejected": sum(rejected.values()),
        },
        "bytes_per_token": round(counts["raw_bytes"] / tokens, 6) if tokens else None,
        # What an M2 that learned nothing scores: every id costs log2(vocabulary) bits.
        "uniform_bits_per_byte": round(tokens * math.log2(vocab) / counts["raw_bytes"], 6) if tokens else None,
        "rejected": dict(sorted(rejected.items())),
        # Per step, the most bytes one element held at once (what bounds a worker's memory).
        "held_bytes": dict(sorted(most.items())),
        "max_held_bytes": max(most.values(), default=0),
        "shards": shards,
        "versions": plan["versions"],
        "runner": plan["runner"],
        "coder_processes": plan["coder_processes"],
        # Every output of the run, this one included: one coding, cut into each one's tokens.
        "coded_once_for": [
            o["output"] for o in plan.get("outputs", [])
        ],  # how many coders (processes, over all machines) coded
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(plan["started"])),
        "wall_seconds": round(time.time() - plan["started"], 3),
    }


def write(prefix: str, manifest: dict, rejections: list[dict], files: list[str]) -> None:
    """Writes the dead letters (in file and line order), then the manifest."""
    order = {path: i for i, path in enumerate(files)}
    rows = sorted(rejections, key=lambda r: (order.get(r["file"], len(order)), r["line"], r["reason"]))
    storage.write_bytes(rejected_path(prefix), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    storage.write_bytes(manifest_path(prefix), (json.dumps(manifest, indent=1) + "\n").encode())
