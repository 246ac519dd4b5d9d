"""The shard set as torch datasets: every record, as the trainer sees it, through real
DataLoader worker processes and rank shares (the layers contract keeps m2_train/ out of it)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest
import torch
from conftest import free_port
from torch.utils.data import DataLoader

from compressor.io.corpus import read_documents
from compressor.shards import shardset, torch_data
from compressor.shards.records import Record
from compressor.shards.torch_data import ShardDataset, ShardIterableDataset


@pytest.fixture(scope="module")
def shards(tmp_path_factory, c4_sample) -> str:
    """Bytes shards of 60 real C4 documents from the pipeline, in several shards."""
    root = tmp_path_factory.mktemp("torch-data")
    source = root / "docs.jsonl"
    source.write_text("".join(json.dumps({"text": d.decode()}) + "\n" for d in read_documents(c4_sample, limit=60)))
    prefix = str(root / "bytes")
    # in a process of its own: Beam's gRPC threads in this one would not survive the DataLoader's fork
    args = ["--input", str(source), "--output", prefix, "--tokenizer", "bytes", "--seq-len", "128"]
    args += ["--batch-bytes", "20000", "--shard-bytes", "50000"]
    done = subprocess.run([sys.executable, "-m", "compressor.cli", "compress", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return prefix


def records(prefix: str) -> list[Record]:
    manifest = shardset.read_manifest(prefix)
    return [Record.from_bytes(r) for path in shardset.local_shards(manifest) for r in shardset.read_shard(path)]


def key(item: dict) -> tuple:
    return tuple(item["input_ids"].tolist())


def test_map_style_gives_every_record_padded_with_its_mask_and_bytes(shards):
    data, want = ShardDataset(shards), records(shards)
    assert len(shardset.read_manifest(shards)["shards"]) > 1 and len(data) == len(want)
    assert data.pad_id == 256 and data.vocab_size == 257 and data.seq_len == 128
    for i, record in enumerate(want):
        item = data[i]
        assert item["input_ids"].dtype == torch.int64 and item["input_ids"].shape == (128,)
        assert item["input_ids"].tolist() == record.padded(256).tolist()
        assert int(item["attention_mask"].sum()) == record.ids.size
        assert int(item["raw_bytes"]) == record.raw_bytes
    assert (
        sum(int(data[i]["raw_bytes"]) for i in range(len(data)))
        == shardset.read_manifest(shards)["counts"]["raw_bytes"]
    )
    with pytest.raises(IndexError):
        data[len(data)]


def test_readers_stay_few_whatever_the_shard_count(shards, monkeypatch):
    monkeypatch.setattr(torch_data, "OPEN", 1)
    data, want = ShardDataset(shards), records(shards)
    for i in [*range(len(data)), *reversed(range(len(data)))]:  # across every shard, both ways
        assert data[i]["input_ids"].tolist() == want[i].padded(256).tolist()
        assert len(data.shards.readers) == 1


def test_map_style_batches_through_worker_processes(shards):
    data = ShardDataset(shards)
    batches = list(DataLoader(data, batch_size=8, num_workers=2, multiprocessing_context="forkserver"))
    assert batches[0]["input_ids"].shape == (8, 128)
    assert [k for b in batches for k in map(tuple, b["input_ids"].tolist())] == [key(data[i]) for i in range(len(data))]


def test_ranks_and_workers_read_every_record_once_a_pass(shards):
    everything = Counter(key(ShardDataset(shards)[i]) for i in range(len(ShardDataset(shards))))
    seen = Counter()
    for rank in range(2):
        data = ShardIterableDataset(shards, rank=rank, world_size=2, shuffle=True, seed=3, passes=2)
        for batch in DataLoader(data, batch_size=None, num_workers=2, multiprocessing_context="forkserver"):
            seen[key(batch)] += 1
    assert seen == Counter({k: 2 * n for k, n in everything.items()})


def test_the_shuffle_is_seeded_per_pass(shards):
    def order(seed: int, passes: int = 1) -> list[tuple]:
        return [key(item) for item in ShardIterableDataset(shards, shuffle=True, seed=seed, passes=passes)]

    first = order(0)
    assert order(0) == first and order(1) != first
    two = order(0, passes=2)
    assert two[: len(first)] == first and two[len(first) :] != first and sorted(two[len(first) :]) == sorted(first)
    plain = [key(item) for item in ShardIterableDataset(shards)]
    assert plain == [key(ShardDataset(shards)[i]) for i in range(len(plain))]  # unshuffled: manifest order


def test_a_rank_outside_the_world_is_refused(shards):
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        ShardIterableDataset(shards, rank=2, world_size=2)


RANK_SCRIPT = """
import json, sys
import torch.distributed as dist
from compressor.shards.torch_data import ShardIterableDataset

dist.init_process_group("gloo")
data = ShardIterableDataset(sys.argv[1])  # rank and world size from torch.distributed
keys = [item["input_ids"].tolist() for item in data]
with open(f"{sys.argv[2]}/rank{dist.get_rank()}.json", "w") as fh:
    json.dump({"rank": data.rank, "world": data.world_size, "keys": keys}, fh)
dist.destroy_process_group()
"""


def test_torchrun_ranks_split_the_records_between_them(shards, tmp_path):
    script = tmp_path / "ranks.py"
    script.write_text(RANK_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port", str(free_port())]
    proc = subprocess.run([*command, str(script), shards, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [(r["rank"], r["world"]) for r in ranks] == [(0, 2), (1, 2)]
    data = ShardDataset(shards)
    assert ranks[0]["keys"] == [data[i]["input_ids"].tolist() for i in range(0, len(data), 2)]
    assert ranks[1]["keys"] == [data[i]["input_ids"].tolist() for i in range(1, len(data), 2)]
