"""The lane scheduler every lockstep coder uses: every job runs once, never more than `width` at once,
longest first, and a freed lane is taken at once."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from compressor.codecs.lanes import Lanes


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 50), max_size=40),
    width=st.one_of(st.none(), st.integers(1, 12)),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_job_runs_once_within_the_width_longest_first(sizes, width, seed):
    rng = np.random.default_rng(seed)
    sizes = np.array(sizes, dtype=np.int64)
    skip = rng.random(sizes.size) < 0.2
    started: list[int] = []
    lanes = Lanes(sizes, width, lambda jobs: started.extend(jobs.tolist()), skip=skip)
    cap = int((~skip).sum()) if width is None else width
    steps = 0
    while lanes:
        assert 0 < lanes.live.size <= cap
        assert len(set(lanes.live.tolist())) == lanes.live.size
        finished = rng.random(lanes.live.size) < 0.4
        before = lanes.live[~finished]
        joining = lanes.keep(~finished)
        assert np.array_equal(lanes.live, np.concatenate([before, joining]))
        queued_left = len(started) < (~skip).sum()
        assert lanes.live.size == cap or not queued_left  # a freed lane is taken while jobs wait
        steps += 1
        assert steps < 10_000
    jobs = np.flatnonzero(~skip)
    assert sorted(started) == jobs.tolist()  # each job once, skipped ones never
    assert np.all(np.diff(sizes[started]) <= 0)  # longest first
    ties = [j for j in started if (sizes[started] == sizes[j]).sum() > 1]
    for size in set(sizes[ties].tolist()):
        same = [j for j in started if sizes[j] == size]
        assert same == sorted(same)  # ties in job order: the order does not depend on anything else


def test_no_start_callback_and_no_jobs():
    lanes = Lanes(np.zeros(0, np.int64), 4)
    assert not lanes and lanes.keep(np.zeros(0, bool)).size == 0
    lanes = Lanes(np.array([1, 3, 2]), None)
    assert lanes.live.tolist() == [1, 2, 0]
