"""The shard record layout: exact round trips, and clear errors for anything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.shards.records import HEADER, MAGIC, Record, RecordError, digest, doc_rows, id_bytes_for


@st.composite
def records(draw):
    id_bytes = draw(st.sampled_from([1, 2, 4]))
    seq_len = draw(st.integers(1, 600))
    n = draw(st.integers(1, seq_len))
    ids = np.array(draw(st.lists(st.integers(0, (1 << (8 * id_bytes)) - 1), min_size=n, max_size=n)), np.int64)
    ends = sorted(draw(st.lists(st.integers(0, n), max_size=5)))
    k = len(ends)
    docs = doc_rows(
        draw(st.lists(st.integers(1, 2**40), min_size=k, max_size=k)),
        draw(st.lists(st.integers(0, 2**40), min_size=k, max_size=k)),
        ends,
        draw(st.lists(st.integers(0, 2**64 - 1), min_size=k, max_size=k)),
    )
    u32 = st.integers(0, 2**32 - 1)
    record = Record(draw(u32), draw(u32), draw(u32), seq_len, ids, docs, draw(st.booleans()), draw(st.booleans()))
    return record, id_bytes


@given(records())
@settings(max_examples=200, deadline=None)
def test_round_trip(case):
    record, id_bytes = case
    data = record.to_bytes(id_bytes)
    assert len(data) == HEADER.size + record.ids.size * id_bytes + 28 * len(record.docs)
    back = Record.from_bytes(data)
    fields = ("file", "batch", "index", "seq_len", "continues", "last")
    assert [getattr(back, f) for f in fields] == [getattr(record, f) for f in fields]
    assert np.array_equal(back.ids, record.ids) and back.ids.dtype == np.int64
    assert back.docs.tobytes() == record.docs.tobytes()
    assert back.raw_bytes == int(record.docs["raw_bytes"].sum())
    padded = back.padded(pad_id=1 << (8 * id_bytes))
    assert padded.size == record.seq_len and (padded[record.ids.size :] == 1 << (8 * id_bytes)).all()


@given(records(), st.data())
@settings(max_examples=200, deadline=None)
def test_any_damage_to_the_header_or_length_is_caught_or_harmless(case, data):
    record, id_bytes = case
    raw = bytearray(record.to_bytes(id_bytes))
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(RecordError):
        Record.from_bytes(bytes(raw[:cut]))
    with pytest.raises(RecordError):
        Record.from_bytes(bytes(raw) + b"\0")
    pos = data.draw(st.integers(0, HEADER.size - 1))
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    try:
        back = Record.from_bytes(bytes(raw))
    except RecordError:
        return
    # Flips that still parse touch only fields that carry no length: file, batch, index, seq_len, flags.
    assert back.ids.size == record.ids.size and len(back.docs) == len(record.docs)


def test_errors_say_what_is_wrong():
    docs = doc_rows([1], [5], [3], [digest(b"hello")])
    record = Record(0, 0, 0, 4, np.array([1, 2, 3]), docs)
    data = record.to_bytes(1)
    with pytest.raises(RecordError, match="magic"):
        Record.from_bytes(b"XXXX" + data[4:])
    with pytest.raises(RecordError, match="version 7"):
        Record.from_bytes(MAGIC + b"\x07\x00" + data[6:])
    with pytest.raises(RecordError, match="version 1; this code reads version 2"):
        Record.from_bytes(MAGIC + b"\x01\x00" + data[6:])
    with pytest.raises(RecordError, match="unknown flags"):
        Record.from_bytes(data[:7] + b"\x04" + data[8:])
    with pytest.raises(ValueError, match="cannot be stored"):
        Record(0, 0, 0, 4, np.array([256]), docs).to_bytes(1)
    with pytest.raises(ValueError, match="not ordered"):
        Record(0, 0, 0, 4, np.array([1, 2]), docs).to_bytes(1)
    with pytest.raises(ValueError, match="ids in a record"):
        Record(0, 0, 0, 2, np.array([1, 2, 3]), docs).to_bytes(1)


def test_id_width_and_digest():
    assert [id_bytes_for(v) for v in (256, 257, 32000, 65536, 65537)] == [1, 2, 2, 2, 4]
    assert digest(b"abc") != digest(b"abd") and 0 <= digest(b"") < 2**64
