"""Reading: input files -> batches of documents for the coders, and rejected lines.

A file is streamed, never held: the reader holds the batch it is filling (about `batch_bytes`
of text, plus one document).  Batches and the shard parts they belong to are cut by a rule of
the input alone: a batch closes once it holds `batch_bytes` of documents; a part takes
consecutive batches while their text stays within `shard_bytes` (a batch larger than that is a
part on its own).

Every document keeps its source id, the file (an index into the manifest's `files`) and the line.
Whatever is not a document goes to the dead letters with a reason, never silently away: malformed
JSON, a missing or non-string `text`, invalid UTF-8 or Unicode, an empty or oversized document,
and a file that cannot be read to its end (the lines before the failure are kept).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics import Metrics

from compressor.io.corpus import CorpusError, is_json_lines, iter_documents

REJECTED = "rejected"  # tag of the dead-letter output
NAMESPACE = "eqinfo"  # of the pipeline's Beam metrics

log = logging.getLogger(__name__)


@dataclass
class DocBatch:
    """Consecutive documents of one file, coded together as lanes of one batch."""

    file: int
    batch: int
    part: int = 0  # the shard part of its file the batch goes to
    lines: list[int] = field(default_factory=list)
    texts: list[bytes] = field(default_factory=list)
    nbytes: int = 0

    def add(self, line: int, text: bytes) -> None:
        self.lines.append(line)
        self.texts.append(text)
        self.nbytes += len(text)


def rejection(path: str, line: int, reason: str, error: str) -> dict:
    """A dead letter: where, why (a short reason code), and the full message."""
    return {"file": path, "line": line, "reason": reason, "error": error}


def reject_counter(reason: str):
    return Metrics.counter(NAMESPACE, f"rejected_{reason}")


def held_metric(step: str):
    """Bytes one element of a step held at once, as a Beam Distribution (its max is the bound)."""
    return Metrics.distribution(NAMESPACE, f"held_bytes_{step}")


def check_document(path: str, line: int, doc: bytes, max_bytes: int) -> CorpusError | None:
    """Why a well-formed line still is not a document for the pipeline, or None."""
    where = f"{path}:{line}"
    if not doc:
        return CorpusError(f"{where}: empty text", "empty_text")
    if len(doc) > max_bytes:
        return CorpusError(f"{where}: {len(doc):,} bytes, more than the limit of {max_bytes:,}", "too_large")
    if not is_json_lines(path):  # JSON text is valid by construction; a plain file may hold anything
        try:
            doc.decode("utf-8")
        except UnicodeDecodeError as exc:
            return CorpusError(f"{where}: invalid UTF-8 ({exc.reason} at byte {exc.start})", "invalid_utf8")
    return None


class ReadBatches(beam.DoFn):
    """File index -> DocBatch elements of about `batch_bytes` each, and rejections (tagged)."""

    def __init__(self, files: list[str], batch_bytes: int, max_document_bytes: int, shard_bytes: int):
        self.files, self.batch_bytes, self.max_document_bytes = files, batch_bytes, max_document_bytes
        self.shard_bytes = shard_bytes
        self.documents = Metrics.counter(NAMESPACE, "documents_read")
        self.held = held_metric("read")

    def process(self, file: int) -> Iterator[DocBatch | beam.pvalue.TaggedOutput]:
        path = self.files[file]
        batch = DocBatch(file, 0)
        last_line = part_bytes = 0

        def close(batch: DocBatch) -> DocBatch:
            nonlocal part_bytes
            if part_bytes and part_bytes + batch.nbytes > self.shard_bytes:
                batch.part, part_bytes = batch.part + 1, 0
            part_bytes += batch.nbytes
            self.held.update(batch.nbytes)
            return batch

        try:
            for line, doc in iter_documents(path):
                last_line = line
                error = (
                    doc if isinstance(doc, CorpusError) else check_document(path, line, doc, self.max_document_bytes)
                )
                if error is not None:
                    reject_counter(error.reason).inc()
                    yield beam.pvalue.TaggedOutput(REJECTED, rejection(path, line, error.reason, str(error)))
                    continue
                self.documents.inc()
                batch.add(line, doc)
                if batch.nbytes >= self.batch_bytes:
                    yield close(batch)
                    batch = DocBatch(file, batch.batch + 1, batch.part)
        except CorpusError as exc:
            log.warning("%s", exc)
            reject_counter(exc.reason).inc()
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(path, last_line + 1, exc.reason, str(exc)))
        if batch.texts:
            yield close(batch)
