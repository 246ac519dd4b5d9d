"""Coding: batches of documents -> their ids, with any tokenizer, M1 loaded once per worker or per machine.

The tokenizer is built from its spec in `setup`.  Per process (`apache_beam.utils.shared.Shared`),
all threads of a worker process share one M1; per machine (`MultiProcessShared`, `--share-coder`),
every SDK process of a VM sends its batches, one call per batch, to one coder process that holds
M1 on the GPU with all the machine's cores, instead of each process loading its own copy and
time-slicing the device.  A batch's documents, split into examples, are coded in lockstep as the
lanes of one batch.  The coding path is exact, so the ids do not depend on the worker, the
batch, the device or the sharing.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils.multi_process_shared import MultiProcessShared
from apache_beam.utils.shared import Shared

from compressor.shards.records import ID_DTYPES, digest, id_bytes_for
from compressor.tokenizers import EncodedDoc, parse_spec
from pipelines.counts import Summed
from pipelines.inputs import NAMESPACE, REJECTED, DocBatch, held_metric, reject_counter, rejection
from pipelines.packing import CodedDoc

log = logging.getLogger(__name__)


@dataclass
class Counts(Summed):
    """What coding produced, summed over documents (the manifest's counts and Beam metrics)."""

    documents: int = 0
    examples: int = 0
    raw_bytes: int = 0
    tokens: int = 0
    windows: int = 0
    coded_bits: int = 0
    padding_bits: int = 0


@dataclass
class CodedBatch:
    """A DocBatch's ids (concatenated, stored as compactly as the records store them)."""

    file: int
    batch: int
    part: int
    lines: np.ndarray
    raw_bytes: np.ndarray
    digests: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray  # document i is ids[offsets[i]:offsets[i + 1]]
    counts: Counts
    held: dict[str, int]  # per step so far, the bytes this batch's element held at once
    coder: str  # the coder process (host:pid) that coded it
    output: int = 0  # which of the run's outputs (token widths) these ids are for

    def docs(self) -> Iterator[CodedDoc]:
        for i in range(self.lines.size):
            ids = self.ids[self.offsets[i] : self.offsets[i + 1]]
            yield CodedDoc(int(self.lines[i]), int(self.raw_bytes[i]), int(self.digests[i]), ids)


SHARE_MODES = ("auto", "machine", "process")


def sees_gpu() -> bool:
    """Whether torch, if it is installed and loaded for M1, would code on a GPU here."""
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


class LoadedTokenizer:
    """The worker's tokenizer (a class, so that Shared can hold a weak reference to it; its
    methods are what a MultiProcessShared proxy calls, once per batch)."""

    def __init__(self, spec: str, threads: int | None):
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.tokenizer = parse_spec(spec)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        device = getattr(getattr(self.tokenizer, "model", None), "device", "cpu")
        log.info("coding with %s on %s in process %s", self.tokenizer.spec, device, self.name)

    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def identity(self) -> str:
        """Which coder this is: host and process (the manifest counts them)."""
        return self.name

    def encode(self, texts: list[bytes], widths: list[int] | None = None) -> list[list[EncodedDoc | ValueError]]:
        """All documents in one batch, one list per token width asked for (None: the spec's own);
        if the tokenizer refuses one, each alone to find which (the same for every width)."""

        def encode(batch: list[bytes]) -> list[list[EncodedDoc]]:
            if widths is None:
                return [list(self.tokenizer.encode_detailed(batch))]
            return self.tokenizer.encode_widths(batch, widths)

        try:
            return encode(texts)
        except ValueError:
            out: list[list[EncodedDoc | ValueError]] = [[] for _ in widths or [None]]
            for t in texts:
                try:
                    for column, docs in zip(out, encode([t]), strict=True):
                        column.extend(docs)
                except ValueError as exc:
                    for column in out:
                        column.append(exc)
            return out


class CodeBatch(beam.DoFn):
    """DocBatch -> a CodedBatch for each output; a document the tokenizer refuses goes to the
    dead letters.

    `share`: "process" loads the coder once per worker process, with `threads` torch threads;
    "machine" once per machine, under `tag` (unique to the run), with every core; "auto" per
    machine where the worker sees a GPU (one device, many processes), else per process.
    `widths`: the token bits of each output, coded once and cut for each (None: the spec's own).
    """

    def __init__(
        self,
        spec: str,
        files: list[str],
        shared: Shared,
        threads: int | None = None,
        share: str = "process",
        tag: str = "",
        widths: list[int] | None = None,
    ):
        self.spec, self.files, self.shared, self.threads = spec, files, shared, threads
        self.share, self.tag, self.widths = share, tag, widths
        self.counters = {f.name: Metrics.counter(NAMESPACE, f.name) for f in fields(Counts)}
        self.held = held_metric("code")

    def setup(self) -> None:
        if self.share == "machine" or (self.share == "auto" and "m1=" in self.spec and sees_gpu()):
            cores = len(os.sched_getaffinity(0))
            loader = functools.partial(LoadedTokenizer, self.spec, cores)
            shared = MultiProcessShared(loader, tag=self.tag, always_proxy=True, spawn_process=True)
            self.coder = shared.acquire()
        else:
            self.coder = self.shared.acquire(lambda: LoadedTokenizer(self.spec, self.threads))
        self.coder_name = self.coder.identity()
        vocabularies = [1 << w for w in self.widths] if self.widths else [self.coder.vocab_size()]
        self.id_dtypes = [ID_DTYPES[id_bytes_for(v)] for v in vocabularies]

    def process(self, batch: DocBatch):
        started = time.perf_counter()
        columns = self.coder.encode(batch.texts, self.widths)
        kept = []
        for i, result in enumerate(columns[0]):
            if isinstance(result, ValueError):
                path = self.files[batch.file]
                reject_counter("encode_error").inc()
                yield beam.pvalue.TaggedOutput(
                    REJECTED, rejection(path, batch.lines[i], "encode_error", f"{path}:{batch.lines[i]}: {result}")
                )
            else:
                kept.append(i)
        if not kept:
            return
        texts = [batch.texts[i] for i in kept]
        lines = np.array([batch.lines[i] for i in kept], dtype=np.int64)
        sizes = np.array([len(t) for t in texts], dtype=np.int64)
        digests = np.array([digest(t) for t in texts], dtype=np.uint64)
        held = batch.nbytes + sum(e.ids.nbytes for column in columns for e in column if not isinstance(e, ValueError))
        out = []
        for output, (column, id_dtype) in enumerate(zip(columns, self.id_dtypes, strict=True)):
            encoded = [column[i] for i in kept]
            counts = Counts(
                documents=len(kept),
                examples=sum(e.examples for e in encoded),
                raw_bytes=int(sizes.sum()),
                tokens=sum(e.ids.size for e in encoded),
                windows=sum(e.windows for e in encoded),
                coded_bits=sum(e.coded_bits or 0 for e in encoded),
                padding_bits=sum(e.padding_bits for e in encoded),
            )
            ids = np.concatenate([e.ids for e in encoded]).astype(id_dtype)
            held += ids.nbytes
            offsets = np.cumsum([0] + [e.ids.size for e in encoded], dtype=np.int64)
            out.append(
                CodedBatch(
                    batch.file,
                    batch.batch,
                    batch.part,
                    lines,
                    sizes,
                    digests,
                    ids,
                    offsets,
                    counts,
                    {},
                    self.coder_name,
                    output,
                )
            )
        for name, value in out[0].counts.as_dict().items():
            self.counters[name].inc(value)
        self.held.update(held)
        seconds = time.perf_counter() - started
        log.info(
            "coded %s batch %d: %d documents, %s bytes -> %s ids in %.1f s (%s B/s)",
            self.files[batch.file].rsplit("/", 1)[-1],
            batch.batch,
            len(kept),
            f"{int(sizes.sum()):,}",
            f"{out[0].counts.tokens:,}",
            seconds,
            f"{int(sizes.sum()) / max(seconds, 1e-9):,.0f}",
        )
        for coded in out:
            coded.held = {"read": batch.nbytes, "code": held}
            yield coded
