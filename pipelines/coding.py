"""Coding: batches of documents -> their ids, with any tokenizer, M1 loaded once per worker.

The tokenizer is built from its spec in `setup`, through `apache_beam.utils.shared.Shared`, so
all threads of a worker process share one M1 (on the GPU where torch sees one).  A batch's
documents, split into examples, are coded in lockstep as the lanes of one batch.  The coding
path is exact, so the ids do not depend on the worker, the batch or the device.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from compressor.shards.records import ID_DTYPES, digest, id_bytes_for
from compressor.tokenizers import EncodedDoc, Tokenizer, parse_spec
from pipelines.inputs import NAMESPACE, REJECTED, DocBatch, reject_counter, rejection
from pipelines.packing import CodedDoc

log = logging.getLogger(__name__)


@dataclass
class Counts:
    """What coding produced, summed over documents (the manifest's counts and Beam metrics)."""

    documents: int = 0
    examples: int = 0
    raw_bytes: int = 0
    tokens: int = 0
    windows: int = 0
    coded_bits: int = 0
    padding_bits: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def total(cls, items) -> Counts:
        return sum(items, cls())

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class CodedBatch:
    """A DocBatch's ids (concatenated, stored as compactly as the records store them)."""

    file: int
    batch: int
    lines: np.ndarray
    raw_bytes: np.ndarray
    digests: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray  # document i is ids[offsets[i]:offsets[i + 1]]
    counts: Counts

    def docs(self) -> Iterator[CodedDoc]:
        for i in range(self.lines.size):
            ids = self.ids[self.offsets[i] : self.offsets[i + 1]]
            yield CodedDoc(int(self.lines[i]), int(self.raw_bytes[i]), int(self.digests[i]), ids)


class _Loaded:
    """The worker's tokenizer (a class, so that Shared can hold a weak reference to it)."""

    def __init__(self, spec: str, threads: int | None):
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.tokenizer = parse_spec(spec)
        device = getattr(getattr(self.tokenizer, "model", None), "device", "cpu")
        log.info("coding with %s on %s", self.tokenizer.spec, device)


class CodeBatch(beam.DoFn):
    """DocBatch -> CodedBatch; a document the tokenizer refuses goes to the dead letters."""

    def __init__(self, spec: str, files: list[str], shared: Shared, threads: int | None = None):
        self.spec, self.files, self.shared, self.threads = spec, files, shared, threads
        self.counters = {f.name: Metrics.counter(NAMESPACE, f.name) for f in fields(Counts)}

    def setup(self) -> None:
        self.tokenizer: Tokenizer = self.shared.acquire(lambda: _Loaded(self.spec, self.threads)).tokenizer
        self.id_dtype = ID_DTYPES[id_bytes_for(self.tokenizer.vocab_size)]

    def process(self, batch: DocBatch):
        started = time.perf_counter()
        kept, encoded = [], []
        for i, result in enumerate(self._encode(batch.texts)):
            if isinstance(result, ValueError):
                path = self.files[batch.file]
                reject_counter("encode_error").inc()
                yield beam.pvalue.TaggedOutput(
                    REJECTED, rejection(path, batch.lines[i], "encode_error", f"{path}:{batch.lines[i]}: {result}")
                )
            else:
                kept.append(i)
                encoded.append(result)
        if not kept:
            return
        texts = [batch.texts[i] for i in kept]
        counts = Counts(
            documents=len(kept),
            examples=sum(e.examples for e in encoded),
            raw_bytes=sum(map(len, texts)),
            tokens=sum(e.ids.size for e in encoded),
            windows=sum(e.windows for e in encoded),
            coded_bits=sum(e.coded_bits or 0 for e in encoded),
            padding_bits=sum(e.padding_bits for e in encoded),
        )
        for name, value in counts.as_dict().items():
            self.counters[name].inc(value)
        seconds = time.perf_counter() - started
        log.info(
            "coded %s batch %d: %d documents, %s bytes -> %s ids in %.1f s (%s B/s)",
            self.files[batch.file].rsplit("/", 1)[-1],
            batch.batch,
            counts.documents,
            f"{counts.raw_bytes:,}",
            f"{counts.tokens:,}",
            seconds,
            f"{counts.raw_bytes / max(seconds, 1e-9):,.0f}",
        )
        yield CodedBatch(
            batch.file,
            batch.batch,
            np.array([batch.lines[i] for i in kept], dtype=np.int64),
            np.array([len(t) for t in texts], dtype=np.int64),
            np.array([digest(t) for t in texts], dtype=np.uint64),
            np.concatenate([e.ids for e in encoded]).astype(self.id_dtype),
            np.cumsum([0] + [e.ids.size for e in encoded], dtype=np.int64),
            counts,
        )

    def _encode(self, texts: list[bytes]) -> list[EncodedDoc | ValueError]:
        """All documents in one batch; if the tokenizer refuses one, each alone to find which."""
        try:
            return list(self.tokenizer.encode_detailed(texts))
        except ValueError:
            out: list[EncodedDoc | ValueError] = []
            for t in texts:
                try:
                    out.extend(self.tokenizer.encode_detailed([t]))
                except ValueError as exc:
                    out.append(exc)
            return out
