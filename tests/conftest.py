"""Shared fixtures: the real C4 sample (never copied into the repo) and small test models."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from compressor.coder.native import quantize
from compressor.models.base import ALPHABET

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_C4 = ROOT.parent / "shared/data/c4/c4-train.00000-of-01024.first900.json.gz"
HOST = "127.0.0.1"
BUCKET = "corpus"
START_TIMEOUT_S = 10
REQUEST_TIMEOUT_S = "5"  # per HTTP request, so a stalled emulator fails a test instead of hanging it


@pytest.fixture(scope="session")
def c4_sample() -> Path:
    path = Path(os.environ.get("EQINFO_C4_SAMPLE", DEFAULT_C4))
    if not path.is_file():
        pytest.fail(f"C4 sample not found at {path}: set EQINFO_C4_SAMPLE (see .ci/run)")
    return path


class HashModel:
    """A test model whose CDF depends on the visible history (all of it, or the last
    `context_size` symbols) through a hash, so any disagreement between encoder and decoder
    about the context shows up as a mismatch."""

    name = "hash"
    segment = None

    def __init__(self, table: np.ndarray, precision: int, context_size: int | None = None):
        self.table, self.precision, self.context_size = table, precision, context_size

    def predict(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ctx = np.asarray(contexts, dtype=np.int64)
        rows = np.empty((ctx.shape[0], ctx.shape[1] + 1), dtype=np.int32)
        for j in range(ctx.shape[1] + 1):
            h = np.full(ctx.shape[0], j if self.context_size is None else min(j, self.context_size), np.int64)
            for c in range(0 if self.context_size is None else max(0, j - self.context_size), j):
                h = (h * 1000003 + ctx[:, c] + 1) % 2147483647
            rows[:, j] = h % self.table.shape[0]
        return self.table, rows


def model_table(kind: str, rows: int, precision: int, seed: int) -> np.ndarray:
    """CDF tables of a few shapes, degenerate ones included."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        probs = np.ones((rows, ALPHABET))
    elif kind == "peaked":  # one symbol (0x00 or 'e') holds almost all the mass
        probs = np.full((rows, ALPHABET), 1e-9)
        probs[np.arange(rows), rng.choice([0, 101], rows)] = 1.0
    elif kind == "pow2":
        probs = 2.0 ** -rng.integers(0, 12, (rows, ALPHABET)).astype(float)
    else:
        probs = rng.dirichlet(np.full(ALPHABET, 0.2), rows)
    return quantize(probs.astype(np.float32), precision)


TABLE_KINDS = ("dirichlet", "uniform", "peaked", "pow2")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until_serving(endpoint: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b/{BUCKET}", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"GCS emulator at {endpoint} not answering after {START_TIMEOUT_S} s: {exc}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def gcs():
    """A gcsfs filesystem on a fresh in-memory emulator, with read_documents pointed at it."""
    with pytest.MonkeyPatch.context() as mp:
        # Before gcsfs is imported: its experimental class probes every bucket over gRPC (60 s time-outs).
        mp.setenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        from gcp_storage_emulator.server import create_server
        from gcsfs.core import GCSFileSystem

        port = free_port()
        endpoint = f"http://{HOST}:{port}"
        server = create_server(HOST, port, in_memory=True, default_bucket=BUCKET)
        server._api.daemon = True  # a server that fails to stop must not keep pytest alive
        # server.start() waits without a time-out for its thread, forever if binding fails: bound it here.
        starter = threading.Thread(target=server.start, daemon=True)
        starter.start()
        starter.join(START_TIMEOUT_S)
        if starter.is_alive():
            pytest.fail(f"GCS emulator did not start on {endpoint} within {START_TIMEOUT_S} s")
        try:
            wait_until_serving(endpoint)
            mp.setenv("EQINFO_GCS_ENDPOINT", endpoint)
            mp.setenv("EQINFO_GCS_TIMEOUT", REQUEST_TIMEOUT_S)
            yield GCSFileSystem(endpoint_url=endpoint, token="anon", requests_timeout=float(REQUEST_TIMEOUT_S))
        finally:
            server.stop()


def url(name: str) -> str:
    return f"gs://{BUCKET}/{name}"


@pytest.fixture(scope="session")
def tiny_m1(tmp_path_factory, c4_sample) -> Path:
    """A small M1 checkpoint, trained for seconds on C4 and calibrated: real, if weak, probabilities."""
    from compressor.io.corpus import read_documents
    from compressor.models.m1.bytemodel import INTEGER_FILE
    from compressor.models.m1.checkpoint import load_model
    from compressor.models.m1.integer import IntegerM1
    from compressor.models.m1.model import SIZES
    from compressor.models.m1.train import TrainConfig, train

    docs = list(read_documents(c4_sample, limit=60))
    out = tmp_path_factory.mktemp("tiny-m1")
    config = SIZES["tiny"]
    fast = TrainConfig(steps=60, eval_every=1000, lr=3e-3, batch_tokens=512, long_len=64, short_len=24, warmup=5)
    train(docs[:50], [], out, config, fast, log=lambda s: None)
    IntegerM1.calibrate(load_model(out), docs[:8]).save(out / INTEGER_FILE)
    return out
