"""What a compression run is asked to do, with its defaults: the one place the command line and
the pipeline take them from (this module loads no Beam, so `eqinfo --help` stays fast)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SEQ_LEN = 512  # the paper's M2 sequence length
# Text per coding batch: its examples share the model's lanes (256 on a CPU: compressor/models/m1/bytemodel.py),
# and a batch takes at least as many steps as its longest example (10,240), so a batch should
# hold lanes x 10 KB: 4 MiB suits CPU workers, 64 MiB a GPU's 4096 lanes.
BATCH_BYTES = 4 << 20
MAX_DOCUMENT_BYTES = 64 << 20


@dataclass
class Config:
    inputs: Sequence[str]
    output: str
    tokenizer: str
    seq_len: int = SEQ_LEN
    num_shards: int = 1
    batch_bytes: int = BATCH_BYTES
    max_document_bytes: int = MAX_DOCUMENT_BYTES
    compression: str | None = None  # ArrayRecord record compression [default: by method]
    coder_threads: int | None = None  # torch threads per worker process [default: torch's]
