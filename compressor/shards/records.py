"""The shard record, layout version 2: one M2 training sequence and what the trainer and decoder need.

Every ArrayRecord record of a token shard is one of these, written by `pipelines/` and read by
`m2_train/` (and by anyone else, from this description alone).  All integers little-endian:

    header (40 bytes)
      0  4s  magic b"EQRC"
      4  u16 layout version (2)
      6  u8  bytes per id: 1, 2 or 4 (the smallest that holds the tokenizer's vocabulary)
      7  u8  flags: bit 0 set when the first ids continue a document begun in the previous record;
                    bit 1 set on the last record of its batch
      8  u32 seq_len: the training sequence length; ids past n_ids are PAD for the trainer
     12  u32 n_ids: real ids in this record, 0 < n_ids <= seq_len
     16  u32 file: index of the input file in the manifest's `files`
     20  u32 batch: the coding batch of that file the record was cut from (0, 1, 2, ...)
     24  u32 index: this record's position among its batch's records (0, 1, 2, ...)
     28  u64 raw_bytes: UTF-8 bytes of the documents that end in this record
     36  u32 n_docs: documents that end in this record
    ids  n_ids unsigned integers of `bytes per id`
    docs n_docs rows of 28 bytes, in order: u64 line (the document's line in its file, from 1),
         u64 raw_bytes, u32 end (offset in ids just past the document's last id),
         u64 digest (BLAKE2b-64 of the document's bytes)

A batch is consecutive documents of one file (a rule of the input alone: `pipelines/inputs.py`).
Its records, in index order, hold its documents' id streams back to back and never share a
record with another batch, so each batch decodes from its own records; a document belongs to
the record its stream ends in, so the raw bytes of a split add up exactly over its records.
PAD is not stored: it is the tokenizer's vocabulary size, one past the largest id.  Version 1
numbered records per file; cutting per batch is what lets a worker pack a batch alone.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"EQRC"
VERSION = 2
CONTINUES = 1
LAST = 2
HEADER = struct.Struct("<4sHBBIIIIIQI")
DOC_DTYPE = np.dtype([("line", "<u8"), ("raw_bytes", "<u8"), ("end", "<u4"), ("digest", "<u8")])
ID_DTYPES = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}


class RecordError(ValueError):
    """Bytes that are not a valid record of this layout."""


def id_bytes_for(vocab_size: int) -> int:
    """Bytes per stored id for a vocabulary (ids 0..vocab_size-1)."""
    return next(n for n in (1, 2, 4) if vocab_size <= 1 << (8 * n))


def digest(data: bytes) -> int:
    """A document's checksum: the first 8 bytes of BLAKE2b as a little-endian integer."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def doc_rows(lines, raw_bytes, ends, digests) -> np.ndarray:
    """The docs table from its four columns."""
    rows = np.zeros(len(ends), dtype=DOC_DTYPE)
    rows["line"], rows["raw_bytes"], rows["end"], rows["digest"] = lines, raw_bytes, ends, digests
    return rows


@dataclass(frozen=True)
class Record:
    """One training sequence: real ids (int64), where its documents end, and where it comes from."""

    file: int
    batch: int
    index: int
    seq_len: int
    ids: np.ndarray
    docs: np.ndarray  # DOC_DTYPE rows
    continues: bool = False
    last: bool = False  # the last record of its batch

    @property
    def raw_bytes(self) -> int:
        return int(self.docs["raw_bytes"].sum())

    def padded(self, pad_id: int) -> np.ndarray:
        """The seq_len ids the trainer sees: the real ids, then PAD."""
        out = np.full(self.seq_len, pad_id, dtype=np.int64)
        out[: self.ids.size] = self.ids
        return out

    def to_bytes(self, id_bytes: int) -> bytes:
        ids = np.asarray(self.ids)
        if id_bytes not in ID_DTYPES:
            raise ValueError(f"bytes per id must be 1, 2 or 4, got {id_bytes}")
        if ids.size and (ids.min() < 0 or ids.max() >= 1 << (8 * id_bytes)):
            raise ValueError(f"ids outside 0..{(1 << (8 * id_bytes)) - 1} cannot be stored in {id_bytes} byte(s)")
        _check(self.seq_len, ids.size, self.docs)
        header = HEADER.pack(
            MAGIC,
            VERSION,
            id_bytes,
            (CONTINUES if self.continues else 0) | (LAST if self.last else 0),
            self.seq_len,
            ids.size,
            self.file,
            self.batch,
            self.index,
            self.raw_bytes,
            len(self.docs),
        )
        return header + ids.astype(ID_DTYPES[id_bytes]).tobytes() + np.asarray(self.docs, DOC_DTYPE).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        """Parses and checks a record; RecordError says what is wrong."""
        if len(data) < HEADER.size:
            raise RecordError(f"{len(data)} bytes is shorter than the {HEADER.size}-byte header")
        magic, version, id_bytes, flags, seq_len, n_ids, file, batch, index, raw_bytes, n_docs = HEADER.unpack_from(
            data
        )
        if magic != MAGIC:
            raise RecordError(f"not an eqinfo record (magic {magic!r})")
        if version != VERSION:
            raise RecordError(f"record layout version {version}; this code reads version {VERSION}")
        if id_bytes not in ID_DTYPES:
            raise RecordError(f"bytes per id {id_bytes} is not 1, 2 or 4")
        want = HEADER.size + n_ids * id_bytes + n_docs * DOC_DTYPE.itemsize
        if len(data) != want:
            raise RecordError(f"record is {len(data)} bytes; its header says {want}")
        ids = np.frombuffer(data, ID_DTYPES[id_bytes], n_ids, HEADER.size).astype(np.int64)
        docs = np.frombuffer(data, DOC_DTYPE, n_docs, HEADER.size + n_ids * id_bytes).copy()
        try:
            _check(seq_len, n_ids, docs)
        except ValueError as exc:
            raise RecordError(str(exc)) from None
        if flags & ~(CONTINUES | LAST):
            raise RecordError(f"unknown flags {flags:#04x}")
        record = cls(file, batch, index, seq_len, ids, docs, bool(flags & CONTINUES), bool(flags & LAST))
        if record.raw_bytes != raw_bytes:
            raise RecordError(f"header says {raw_bytes} raw bytes, its documents {record.raw_bytes}")
        return record


def _check(seq_len: int, n_ids: int, docs: np.ndarray) -> None:
    if not 0 < n_ids <= seq_len:
        raise ValueError(f"{n_ids} ids in a record of seq_len {seq_len}")
    ends = docs["end"].astype(np.int64)
    if ends.size and (ends.max() > n_ids or (np.diff(ends) < 0).any()):
        raise ValueError(f"document ends {ends.tolist()} are not ordered within the {n_ids} ids")
