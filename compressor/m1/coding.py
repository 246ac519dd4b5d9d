"""M1 as the coder's byte model: the integer path behind the ByteModel interface.

`predict` runs one batched forward over [BOS] + context for every row and returns one fresh CDF
row per position.  Work is split into chunks of rows so memory stays bounded; since every row is
computed exactly, chunking (like batching and padding) cannot change a single CDF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from compressor.m1.integer import IntegerM1
from compressor.m1.model import BOS
from compressor.models import check_contexts

INTEGER_FILE = "integer.safetensors"


class M1ByteModel:
    name = "m1"
    context_size: int | None = None

    def __init__(self, integer: IntegerM1, max_tokens: int = 1 << 16):
        self.integer = integer
        self.precision = integer.precision
        self.max_tokens = max_tokens

    @classmethod
    def load(cls, checkpoint_dir: str | Path) -> M1ByteModel:
        path = Path(checkpoint_dir) / INTEGER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: run `eqinfo calibrate-m1 --m1 {checkpoint_dir} --input FILE`")
        return cls(IntegerM1.load(path))

    def predict(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx = check_contexts(contexts)
        b, k = ctx.shape
        tokens = np.empty((b, k + 1), dtype=np.int64)
        tokens[:, 0] = BOS
        tokens[:, 1:] = ctx
        rows_per_chunk = max(1, self.max_tokens // (k + 1))
        chunks = [
            self.integer.cdfs(torch.from_numpy(tokens[i : i + rows_per_chunk])).numpy()
            for i in range(0, b, rows_per_chunk)
        ]
        cdfs = np.concatenate(chunks) if chunks else np.zeros((0, k + 1, 258), np.int32)
        return cdfs.reshape(-1, cdfs.shape[-1]), np.arange(b * (k + 1), dtype=np.int32).reshape(b, k + 1)
