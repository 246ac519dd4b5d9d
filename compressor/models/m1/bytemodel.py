"""M1 as the coder's byte model: the integer path behind the ByteModel interface.

`predict` runs one batched forward over [BOS] + context for every row and returns one fresh CDF
row per position.  Work is split into chunks of rows so memory stays bounded; since every row is
computed exactly, chunking (like batching and padding) cannot change a single CDF.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from compressor.io import storage
from compressor.models.base import check_contexts
from compressor.models.m1.checkpoint import load_model
from compressor.models.m1.integer import IntegerM1
from compressor.models.m1.model import BOS

INTEGER_FILE = "integer.safetensors"
DEVICE_ENV = "EQINFO_M1_DEVICE"  # cpu, cuda, cuda:1, ...; unset: a GPU where there is one
LANES_ENV = "EQINFO_M1_LANES"
DEFAULT_LANES = {"cpu": 256, "cuda": 4096}


def resolve_device(name: str | None) -> torch.device:
    """The device M1 runs on: `name`, else $EQINFO_M1_DEVICE, else a GPU where there is one
    (any device gives the same CDFs, so the fastest present is the default)."""
    name = name or os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"M1 device {name!r}: not a device name (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and not (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        raise ValueError(f"M1 device {name!r}: no such CUDA device here")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"M1 device {name!r}: only cpu and cuda are supported")
    return device


class M1ByteModel:
    """M1's integer twin as a ByteModel.  A document's context restarts from BOS every
    SEGMENT symbols (M1 trains on fresh segments; "full context" is scored the same way)."""

    name = "m1"
    context_size: int | None = None
    segment = 1024

    def __init__(self, integer: IntegerM1, max_tokens: int = 1 << 16, lanes: int | None = None):
        self.integer = integer
        self.precision = integer.precision
        self.max_tokens = max_tokens
        # Documents the window coders run at once (compressor/codecs/windows.py): enough rows to keep
        # the device busy; more only costs memory.  $EQINFO_M1_LANES overrides.
        self.lanes = lanes or int(os.environ.get(LANES_ENV) or DEFAULT_LANES[integer.device.type])

    @property
    def device(self) -> torch.device:
        return self.integer.device

    @classmethod
    def load(cls, checkpoint_dir: str | Path, device: str | None = None) -> M1ByteModel:
        path = Path(checkpoint_dir) / INTEGER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: run `eqinfo calibrate-m1 --m1 {checkpoint_dir} --input FILE`")
        return cls(IntegerM1.load(path, resolve_device(device)))

    def predict(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx = check_contexts(contexts)
        b, k = ctx.shape
        parts = [self._cdfs(ctx[:, start : start + self.segment - 1]) for start in range(0, k + 1, self.segment)]
        cdfs = np.concatenate(parts, axis=1)  # positions 0..k; each segment restarts at BOS
        return cdfs.reshape(-1, cdfs.shape[-1]), np.arange(b * (k + 1), dtype=np.int32).reshape(b, k + 1)

    def session(self, n: int) -> M1Session:
        return M1Session(self, n)

    def _cdfs(self, ctx: np.ndarray) -> np.ndarray:
        """CDFs [B, K+1, 258] after [BOS] + each prefix of ctx [B, K], in chunks of rows."""
        b, k = ctx.shape
        tokens = np.empty((b, k + 1), dtype=np.int64)
        tokens[:, 0] = BOS
        tokens[:, 1:] = ctx
        rows = max(1, self.max_tokens // (k + 1))
        chunks = [self.integer.cdfs(torch.from_numpy(tokens[i : i + rows])).numpy() for i in range(0, b, rows)]
        return np.concatenate(chunks) if chunks else np.zeros((0, k + 1, 258), np.int32)


class M1Session:
    """M1 one symbol at a time, with a KV cache (decoding, and Equal-Info encoding): each step
    feeds one new token per document, a position's forward instead of the whole context's, and
    yields the same CDFs as `predict` (the integer path's arithmetic on a position does not
    depend on how many positions are computed with it).

    A history holds a cache slot from its first token until `reset`, and a fresh history takes
    the lowest free slot: the coders reset every history they finish, so the slots in use stay
    one run as long as the lanes are full, and each step reads the cache in place."""

    def __init__(self, model: M1ByteModel, n: int):
        self.integer, self.segment, self.max_tokens = model.integer, model.segment, model.max_tokens
        self.cache = model.integer.new_cache(0)
        self.slot = np.full(n, -1, dtype=np.int64)  # each history's cache slot; -1: none yet
        self.pending = np.full(n, BOS, dtype=np.int64)  # next token to feed; -1: fed already
        self.last = np.zeros((n, 258), dtype=np.int32)  # CDF after each row's latest token
        self.positions = self.attended = 0  # work done (positions fed, key positions attended), for benchmarks

    def append(self, docs: np.ndarray, symbols: np.ndarray) -> None:
        self.pending[docs] = symbols

    def reset(self, docs: np.ndarray) -> None:
        """Forget the histories (their slots go back to the pool); each restarts from BOS."""
        held = self.slot[docs]
        self.cache.free(held[held >= 0])
        self.slot[docs] = -1
        self.pending[docs] = BOS

    def next_cdfs(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feed = docs[self.pending[docs] >= 0]
        holding = feed[self.slot[feed] >= 0]
        self.reset(holding[self.cache.length[self.slot[holding]] >= self.segment])  # as predict: a fresh segment
        fresh = feed[self.slot[feed] < 0]
        self.slot[fresh] = self.cache.take(fresh.size)
        feed = feed[np.argsort(self.slot[feed], kind="stable")]
        slots = self.slot[feed]
        lengths = self.cache.length[slots]
        rows = max(1, self.max_tokens // (int(lengths.max(initial=0)) + 1))
        self.positions += feed.size
        self.attended += int(lengths.sum()) + feed.size
        for i in range(0, feed.size, rows):
            part = feed[i : i + rows]
            self.last[part] = self.integer.extend(self.cache, slots[i : i + rows], self.pending[part]).numpy()
        self.pending[feed] = -1
        return self.last[docs], np.arange(docs.size, dtype=np.int32)


def load_for_spec(path: str, precision: int) -> M1ByteModel:
    """`m1=PATH` in a tokenizer spec: the checkpoint's calibrated integer M1 (PATH may be a gs://
    checkpoint directory: its integer file is staged to the local cache)."""
    local = storage.local_copy(storage.join(path, INTEGER_FILE)).parent if storage.is_gcs_url(path) else path
    model = M1ByteModel.load(local)
    if model.precision != precision:
        raise ValueError(
            f"M1 at {path} is calibrated for p={model.precision}, the spec asks p={precision}: "
            f"use p={model.precision} or rerun `eqinfo calibrate-m1 --precision {precision}`"
        )
    return model


def calibrate(checkpoint_dir: Path, docs: list[bytes], precision: int = 14) -> Path:
    """Builds the checkpoint's integer twin from the float model, calibrated on `docs`, and
    writes it beside the checkpoint (what `m1=DIR` loads); returns its path."""
    path = Path(checkpoint_dir) / INTEGER_FILE
    IntegerM1.calibrate(load_model(checkpoint_dir), docs, precision).save(path)
    return path
