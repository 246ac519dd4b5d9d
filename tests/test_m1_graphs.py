"""The CUDA-graph step's arithmetic (compressor/models/m1/graphs.py) against the eager torch
step, on a CPU: rows padded to a lane bucket, attention over the cache's whole capacity, the
cache growing under it.  The capture itself needs a GPU (`make gpu-check`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_m1_kernels import TEXT, lockstep_equal

from compressor.models.m1.graphs import GraphSteps, bucket
from compressor.models.m1.integer import IntegerM1
from compressor.models.m1.model import M1, M1Config


class Padded:
    """An IntegerM1 whose `extend` goes through GraphSteps without capture."""

    def __init__(self, m: IntegerM1):
        self.m, self.steps = m, GraphSteps(m, capture=False)

    def new_cache(self, rows: int):
        return self.m.new_cache(rows)

    def extend(self, cache, slots, tokens):
        return self.steps.extend(cache, slots, tokens)


@pytest.mark.parametrize("lanes", [1, 5, 8, 19])
def test_padded_full_capacity_steps_give_the_eager_steps_cdfs(lanes):
    """60 steps from capacity 32 grow the cache's positions, and resets move histories to new
    slots (taken beyond the first rows, so the rows grow too)."""
    torch.manual_seed(lanes)
    config = M1Config(n_layer=2, d_model=64, n_head=4, d_mlp=128)
    integer = IntegerM1.calibrate(M1(config), TEXT)
    eager = IntegerM1(integer.t, config.n_layer, config.n_head, integer.precision, fused=False)
    assert eager.graphs is None  # opt-in, and only on a GPU
    rng = np.random.default_rng(lanes)
    assert lockstep_equal(eager, Padded(eager), rng, lanes, steps=60) == 60


def test_the_real_m1_through_padded_steps_is_exact(tiny_m1):
    from compressor.models.m1.bytemodel import INTEGER_FILE

    eager = IntegerM1.load(tiny_m1 / INTEGER_FILE, fused=False)
    assert lockstep_equal(eager, Padded(eager), np.random.default_rng(0), 12, steps=40) == 40


@pytest.mark.parametrize(("rows", "size"), [(1, 8), (8, 8), (9, 16), (256, 256), (257, 512), (4096, 4096)])
def test_lane_buckets(rows, size):
    assert bucket(rows) == size
