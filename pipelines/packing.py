"""A coding batch's documents -> training records, and back (no Beam here: a pure function of the ids).

The id streams of a batch's documents, in order, are cut into records of at most `seq_len` ids.
A cut may fall inside a document only every `unit` ids of it (whole Equal-Info windows), so a
record is full unless the next unit does not fit; only then, and at the end of the batch, does it
hold fewer ids and the trainer pads it.  A document belongs to the record its ids end in.  A
batch packs alone (its records start and end with it), so a worker holds one batch, never a file.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from compressor.shards.records import Record, doc_rows


class PackingError(ValueError):
    """Records that do not rebuild their file's documents (missing, repeated or inconsistent)."""


@dataclass
class CodedDoc:
    """One document's ids and what identifies it."""

    line: int
    raw_bytes: int
    digest: int
    ids: np.ndarray


def check_geometry(seq_len: int, unit: int) -> None:
    if unit < 1 or seq_len < unit:
        raise ValueError(f"seq_len {seq_len} cannot hold a whole unit of {unit} ids (one or more windows)")


def pack(file: int, batch: int, docs: Iterable[CodedDoc], seq_len: int, unit: int = 1) -> Iterator[Record]:
    """The records of one batch, in order; the last one says so."""
    records = _cut(file, batch, docs, seq_len, unit)
    previous = next(records, None)
    for record in records:
        yield previous
        previous = record
    if previous is not None:
        yield dataclasses.replace(previous, last=True)


def _cut(file: int, batch: int, docs: Iterable[CodedDoc], seq_len: int, unit: int) -> Iterator[Record]:
    check_geometry(seq_len, unit)
    pieces: list[np.ndarray] = []
    rows: list[tuple[int, int, int, int]] = []
    filled, index, continues = 0, 0, False

    def emit(next_continues: bool) -> Record:
        nonlocal pieces, rows, filled, index, continues
        lines, raw, ends, digests = zip(*rows, strict=True) if rows else ((), (), (), ())
        docs = doc_rows(lines, raw, ends, digests)
        record = Record(file, batch, index, seq_len, np.concatenate(pieces), docs, continues)
        pieces, rows, filled, index, continues = [], [], 0, index + 1, next_continues
        return record

    for doc in docs:
        pos, size = 0, doc.ids.size
        if not size:
            raise ValueError(f"file {file} line {doc.line}: a document without ids cannot be placed in a record")
        while size - pos > seq_len - filled:
            take = (seq_len - filled) // unit * unit  # doc positions stay multiples of unit
            if take:
                pieces.append(doc.ids[pos : pos + take])
                filled, pos = filled + take, pos + take
            yield emit(next_continues=pos > 0)
        pieces.append(doc.ids[pos:])
        filled += size - pos
        rows.append((doc.line, doc.raw_bytes, filled, doc.digest))
        if filled == seq_len:
            yield emit(next_continues=False)
    if filled:
        yield emit(next_continues=False)


def batches(records: Iterable[Record]) -> Iterator[list[Record]]:
    """A shard's records, in order -> the records of each batch (consecutive in a shard)."""
    for _, group in itertools.groupby(records, key=lambda r: (r.file, r.batch)):
        yield list(group)


def unpack(records: Sequence[Record]) -> Iterator[tuple[CodedDoc, list[int]]]:
    """One batch's records, in index order -> each document (its ids) and the records it spans.

    Checks that the records are the whole batch: consecutive indices from 0, each continuation
    flag matching what the previous record left open, the last record marked and no ids after its
    last document.
    """
    carried: list[np.ndarray] = []
    spans: list[int] = []
    for expected, record in enumerate(records):
        where = f"file {record.file} batch {record.batch} record {record.index}"
        if record.index != expected:
            raise PackingError(f"{where}: expected record {expected} (records missing or repeated)")
        if record.continues != bool(carried):
            state = "continues a document" if record.continues else "starts afresh"
            raise PackingError(f"{where}: {state}, but the previous record {'did not' if carried else 'did'} end one")
        if record.last != (expected == len(records) - 1):
            state = "is marked last, but records follow" if record.last else "is not the batch's last (records missing)"
            raise PackingError(f"{where}: {state}")
        start = 0
        for row in record.docs:
            end = int(row["end"])
            ids = np.concatenate([*carried, record.ids[start:end]])
            yield CodedDoc(int(row["line"]), int(row["raw_bytes"]), int(row["digest"]), ids), [*spans, record.index]
            carried, spans, start = [], [], end
        if start < record.ids.size:
            carried.append(record.ids[start:])
            spans.append(record.index)
    if carried:
        last = records[-1]
        raise PackingError(f"file {last.file} batch {last.batch}: ids after its last document")
