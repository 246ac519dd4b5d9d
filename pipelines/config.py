"""What a compression run is asked to do, with its defaults: the one place the command line and
the pipeline take them from (this module loads no Beam, so `eqinfo --help` stays fast)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SEQ_LEN = 512  # the paper's M2 sequence length
# Text per coding batch: its examples share the model's lanes (256 on a CPU, 4,096 on a GPU:
# compressor/models/m1/bytemodel.py), and a batch takes at least as many steps as its longest
# example (10,240), so a batch should hold more than lanes x 10 KB: 16 KiB a lane, 4 MiB on a
# CPU, 64 MiB where M1 codes on a GPU.  Without M1, lanes cost nothing: 4 MiB.
LANE_BYTES = 16 << 10
BATCH_BYTES = 4 << 20
MAX_DOCUMENT_BYTES = 64 << 20
# Text per shard: a C4 file (~750 MB) makes three shards; a shard is read whole by nothing.
SHARD_BYTES = 256 << 20
DECODE_IDS = 1 << 19  # ids decoded together in lockstep (many documents, as lanes): decode-shards and verify


@dataclass
class Config:
    inputs: Sequence[str]
    output: str
    tokenizer: str
    seq_len: int = SEQ_LEN
    shard_bytes: int = SHARD_BYTES
    batch_bytes: int | None = None  # [default: LANE_BYTES a lane of the device M1 codes on, else BATCH_BYTES]
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    compression: str | None = None  # ArrayRecord record compression [default: by method]
    coder_threads: int | None = None  # torch threads per worker process [default: torch's]
    share_coder: str = "auto"  # one coder per machine or per process: pipelines/coding.py
    # (vocabulary, prefix): the same bitstreams cut into tokens of another vocabulary, to another prefix
    also: Sequence[tuple[int, str]] = ()
