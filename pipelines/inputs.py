"""Reading: input files -> batches of documents for the coders, and rejected lines.

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

    def __init__(self, files: list[str], batch_bytes: int, max_document_bytes: int):
        self.files, self.batch_bytes, self.max_document_bytes = files, batch_bytes, max_document_bytes
        self.documents = Metrics.counter(NAMESPACE, "documents_read")

    def process(self, file: int) -> Iterator[DocBatch | beam.pvalue.TaggedOutput]:
        path = self.files[file]
        batch = DocBatch(file, 0)
        last_line = 0
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
                    yield batch
                    batch = DocBatch(file, batch.batch + 1)
        except CorpusError as exc:
            log.warning("%s", exc)
            reject_counter(exc.reason).inc()
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(path, last_line + 1, exc.reason, str(exc)))
        if batch.texts:
            yield batch
