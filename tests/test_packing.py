"""Cutting a batch's id streams into records, and rebuilding the documents from the records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.shards.records import Record
from pipelines.packing import CodedDoc, PackingError, batches, pack, unpack


@st.composite
def files(draw):
    unit = draw(st.sampled_from([1, 2, 3, 4, 8, 16]))
    seq_len = draw(st.integers(unit, 70))
    sizes = draw(st.lists(st.integers(1, 200), min_size=1, max_size=12))
    docs, next_id = [], 0
    for i, n in enumerate(sizes):
        docs.append(CodedDoc(line=2 * i + 1, raw_bytes=3 * n + i, digest=i * 7919, ids=np.arange(next_id, next_id + n)))
        next_id += n
    return docs, seq_len, unit


@given(files())
@settings(max_examples=300, deadline=None)
def test_records_are_full_whole_units_and_rebuild_every_document(case):
    docs, seq_len, unit = case
    records = list(pack(5, 3, docs, seq_len, unit))
    assert [r.index for r in records] == list(range(len(records)))
    assert [r.last for r in records] == [False] * (len(records) - 1) + [True]
    assert all(r.file == 5 and r.batch == 3 and r.seq_len == seq_len and 0 < r.ids.size <= seq_len for r in records)
    assert sum(r.raw_bytes for r in records) == sum(d.raw_bytes for d in docs)
    # All ids, in order, once.
    assert np.array_equal(np.concatenate([r.ids for r in records]), np.concatenate([d.ids for d in docs]))
    # Cuts inside a document fall on whole units from its start; a record is short only when
    # the next unit would not fit (or it is the batch's last).
    starts = np.cumsum([0] + [d.ids.size for d in docs])
    offset = 0
    for r in records[:-1]:
        offset += r.ids.size
        doc = np.searchsorted(starts, offset, side="right") - 1
        assert (offset - starts[doc]) % unit == 0
        if offset != starts[doc]:  # cut inside a document
            assert seq_len - r.ids.size < unit
    back = list(unpack(records))
    assert [(d.line, d.raw_bytes, d.digest) for d, _ in back] == [(d.line, d.raw_bytes, d.digest) for d in docs]
    assert all(np.array_equal(a.ids, b.ids) for (a, _), b in zip(back, docs, strict=True))
    # Records survive their byte layout.
    again = [Record.from_bytes(r.to_bytes(4)) for r in records]
    assert [d.line for d, _ in unpack(again)] == [d.line for d in docs]


def test_missing_repeated_or_truncated_records_are_reported():
    docs = [CodedDoc(1, 10, 0, np.arange(7)), CodedDoc(2, 5, 1, np.arange(9))]
    records = list(pack(0, 0, docs, 4, 1))
    with pytest.raises(PackingError, match="expected record 1"):
        list(unpack([records[0], *records[2:]]))
    with pytest.raises(PackingError, match="expected record 2"):
        list(unpack([records[0], records[1], records[1]]))
    with pytest.raises(PackingError, match="records missing"):
        list(unpack(records[:-1]))
    with pytest.raises(PackingError, match="marked last, but records follow"):
        list(unpack([*records, records[-1]]))
    unmarked = [*records[:-1], dataclasses.replace(records[-1], last=False)]
    with pytest.raises(PackingError, match="is not the batch's last"):
        list(unpack(unmarked))


def test_a_shards_records_fall_into_their_batches():
    one = list(pack(0, 0, [CodedDoc(1, 10, 0, np.arange(7))], 4, 1))
    two = list(pack(0, 1, [CodedDoc(9, 10, 0, np.arange(5))], 4, 1))
    other = list(pack(1, 0, [CodedDoc(1, 10, 0, np.arange(3))], 4, 1))
    groups = list(batches([*one, *two, *other]))
    assert [[(r.file, r.batch, r.index) for r in g] for g in groups] == [
        [(0, 0, 0), (0, 0, 1)],
        [(0, 1, 0), (0, 1, 1)],
        [(1, 0, 0)],
    ]
    assert [d.line for g in groups for d, _ in unpack(g)] == [1, 9, 1]


def test_geometry_and_empty_documents_are_refused():
    with pytest.raises(ValueError, match="whole unit"):
        list(pack(0, 0, [CodedDoc(1, 1, 0, np.arange(3))], 2, 4))
    with pytest.raises(ValueError, match="without ids"):
        list(pack(0, 0, [CodedDoc(1, 0, 0, np.arange(0))], 8, 1))
