"""Lanes: the lockstep coders' one scheduler of which jobs (documents, windows) are live.

Every coder that runs many jobs in lockstep, one symbol per job per step, keeps at most `width`
of them live: the longest first, so that the last lanes to finish hold short jobs, and a
finished job's lane goes to the next one at once, so that every step feeds the model a full
batch instead of the few long jobs left at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Start = Callable[[np.ndarray], None]


class Lanes:
    """The live jobs of `sizes` (one per job; longest first, ties in job order), at most `width`
    at once (all of them when width is None).  `start` is called with the jobs that take a lane,
    each time some do."""

    def __init__(
        self, sizes: np.ndarray, width: int | None, start: Start | None = None, skip: np.ndarray | None = None
    ):
        order = np.argsort(-np.asarray(sizes), kind="stable").astype(np.int32)
        self.order = order if skip is None else order[~skip[order]]
        self.width = self.order.size if width is None else max(1, width)
        self.start = start
        self.live = self.order[: self.width]
        self.queued = self.live.size
        if self.live.size and start is not None:
            start(self.live)

    def __bool__(self) -> bool:
        return bool(self.live.size)

    def keep(self, still: np.ndarray) -> np.ndarray:
        """Keeps the live jobs where `still` is true, hands the freed lanes to the next jobs, and
        returns the jobs that joined (already started), which follow the kept ones in `live`."""
        self.live = self.live[still]
        joining = self.order[self.queued : self.queued + self.width - self.live.size]
        if joining.size:
            self.queued += joining.size
            if self.start is not None:
                self.start(joining)
            self.live = np.concatenate([self.live, joining])
        return joining
