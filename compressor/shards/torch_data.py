"""A shard set as `torch.utils.data` datasets, for trainers other than m2_train/ (Hugging Face,
Lightning, torchtitan): map-style for random access, iterable for a rank's and a worker's share.

Each item is one record as M2's trainer sees it: `input_ids` (int64, seq_len: the record's ids,
then PAD), `attention_mask` (1 on real ids) and `raw_bytes` (the UTF-8 bytes of the documents
that end in the record: sum them over a split, and the summed NLL in bits over it is bits/byte).
PAD is `dataset.pad_id`, one past the tokenizer's largest id; `vocab_size` counts it.  ArrayRecord
readers are opened on first use in each process, so the datasets pickle into DataLoader workers;
give the DataLoader `multiprocessing_context="forkserver"` (or "spawn") with workers: ArrayRecord's
reader does not survive a fork once the parent has read (a worker crashes or hangs).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch
from array_record.python.array_record_module import ArrayRecordReader
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from compressor.shards import shardset
from compressor.shards.records import Record

OPEN = 16  # readers a dataset keeps open at once, per process


class _Shards:
    """The records of a shard set by global index (shards in manifest order), read lazily."""

    def __init__(self, prefix: str):
        self.manifest = shardset.read_manifest(prefix)
        self.paths = shardset.local_shards(self.manifest)
        counts = [s["records"] for s in self.manifest["shards"] if s["records"]]
        self.starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
        self.readers: OrderedDict[int, ArrayRecordReader] = OrderedDict()  # the most recently used, at most OPEN

    def __len__(self) -> int:
        return self.starts[-1]

    def item(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} of a shard set of {len(self)}")
        shard = bisect.bisect_right(self.starts, index) - 1
        reader = self.reader(shard)
        reader.seek(index - self.starts[shard])  # one record: no parallel read
        data = reader.read()
        record = Record.from_bytes(data)
        ids = torch.from_numpy(record.padded(self.pad_id))
        mask = torch.zeros_like(ids)
        mask[: record.ids.size] = 1
        return {"input_ids": ids, "attention_mask": mask, "raw_bytes": torch.tensor(record.raw_bytes)}

    def reader(self, shard: int) -> ArrayRecordReader:
        """The shard's reader; a shard set of thousands of shards keeps only OPEN files open."""
        if shard in self.readers:
            self.readers.move_to_end(shard)
            return self.readers[shard]
        while len(self.readers) >= OPEN:
            self.readers.popitem(last=False)[1].close()
        # random access: no readahead, as Grain reads ArrayRecord
        reader = ArrayRecordReader(self.paths[shard], options="readahead_buffer_size:0", file_reader_buffer_size=32768)
        self.readers[shard] = reader
        return reader

    @property
    def pad_id(self) -> int:
        return int(self.manifest["pad_id"])

    def __getstate__(self) -> dict:  # readers stay in the process that opened them
        return {**self.__dict__, "readers": OrderedDict()}


class _Described:
    """What a trainer needs to know of the ids: PAD, the vocabulary with it, the sequence length."""

    def __init__(self, prefix: str):
        self.shards = _Shards(prefix)
        self.pad_id = self.shards.pad_id
        self.vocab_size = self.pad_id + 1
        self.seq_len = int(self.shards.manifest["seq_len"])


class ShardDataset(_Described, Dataset):
    """Record i of the shard set at `prefix` (local or gs://), in manifest order."""

    def __len__(self) -> int:
        return len(self.shards)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.shards.item(index)


class ShardIterableDataset(_Described, IterableDataset):
    """Every record once a pass, split over ranks and DataLoader workers: the reader at place p of
    world x workers reads records p, p + world x workers, ... of the pass's order (seeded shuffle
    per pass, or the manifest's).  The rank and world size default to torch.distributed's."""

    def __init__(
        self,
        prefix: str,
        rank: int | None = None,
        world_size: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        passes: int = 1,
    ):
        super().__init__(prefix)
        joined = torch.distributed.is_available() and torch.distributed.is_initialized()
        default = (torch.distributed.get_rank(), torch.distributed.get_world_size()) if joined else (0, 1)
        self.rank = default[0] if rank is None else rank
        self.world_size = default[1] if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in a world of {self.world_size}")
        self.shuffle, self.seed, self.passes = shuffle, seed, passes

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        worker = get_worker_info()
        workers, wid = (worker.num_workers, worker.id) if worker else (1, 0)
        place, readers = self.rank * workers + wid, self.world_size * workers
        for p in range(self.passes):
            order = np.arange(len(self.shards))
            if self.shuffle:
                order = np.random.default_rng([self.seed, p]).permutation(order)
            for index in order[place::readers]:
                yield self.shards.item(int(index))
