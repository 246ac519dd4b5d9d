"""M1's fused CPU step (int8 GEMMs plus the C kernels) against the torch path that defines the
arithmetic: bit-identical CDFs on random models, random tokens and real text, whatever the batch,
padding, slot order, thread count or saturation; and every kernel entry point refuses bad
buffers with an exception."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressor.coder import _coder
from compressor.io.corpus import read_documents
from compressor.models.base import symbols_of
from compressor.models.m1.bytemodel import INTEGER_FILE, M1ByteModel
from compressor.models.m1.integer import IntegerM1, exp_table
from compressor.models.m1.model import BOS, M1, M1Config

TEXT = [b"The quick brown fox jumps over the lazy dog. " * 4, "naïve café – ünïcode, 2024!".encode() * 3]


def twins(config: M1Config, seed: int, text=TEXT, scale_m: float = 1.0) -> tuple[IntegerM1, IntegerM1]:
    """A randomly initialised M1's integer twin, as the torch path and as the fused path.
    scale_m > 1 inflates every requantisation multiplier, so activations saturate at their clamps."""
    torch.manual_seed(seed)
    integer = IntegerM1.calibrate(M1(config), text)
    t = {k: v * scale_m if k.endswith(".m") and not k.startswith("head") else v for k, v in integer.t.items()}
    torch_path = IntegerM1(t, config.n_layer, config.n_head, integer.precision, fused=False)
    fused = IntegerM1(t, config.n_layer, config.n_head, integer.precision)
    assert torch_path.fused is None and fused.fused is not None
    return torch_path, fused


def lockstep_equal(a: IntegerM1, b: IntegerM1, rng: np.random.Generator, lanes: int, steps: int) -> int:
    """Feeds both models the same random lockstep schedule (random live subsets, resets, slots
    out of order); returns the number of steps compared, asserting every CDF equal."""
    ca, cb = a.new_cache(lanes), b.new_cache(lanes)
    sa, sb = ca.take(lanes), cb.take(lanes)
    for _ in range(steps):
        live = rng.choice(lanes, size=int(rng.integers(1, lanes + 1)), replace=False)
        if rng.random() < 0.5:
            live = np.sort(live)
        tokens = rng.integers(0, 257, live.size)
        assert torch.equal(a.extend(ca, sa[live], tokens), b.extend(cb, sb[live], tokens))
        done = live[rng.random(live.size) < 0.2]
        for cache, slots in ((ca, sa), (cb, sb)):
            cache.free(slots[done])
            slots[done] = cache.take(done.size)
    return steps


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("config", [M1Config(n_layer=1, d_model=32, n_head=2, d_mlp=64), M1Config(2, 64, 4, 128)])
def test_fused_step_equals_torch_on_random_models(config, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for seed in range(3):
            a, b = twins(config, seed)
            rng = np.random.default_rng(seed)
            assert lockstep_equal(a, b, rng, lanes=int(rng.integers(1, 40)), steps=40)
            tokens = torch.from_numpy(rng.integers(0, 257, (int(rng.integers(1, 5)), int(rng.integers(1, 60)))))
            tokens[:, 0] = BOS
            assert torch.equal(a.cdfs(tokens), b.cdfs(tokens))
    finally:
        torch.set_num_threads(before)


def test_fused_step_equals_torch_when_activations_saturate():
    """Multipliers inflated 40x: most requantised values hit their clamps, and the residual
    stream its limit."""
    a, b = twins(M1Config(2, 64, 4, 128), seed=7, scale_m=40.0)
    rng = np.random.default_rng(7)
    tokens = torch.from_numpy(rng.integers(0, 257, (3, 50)))
    assert torch.equal(a.cdfs(tokens), b.cdfs(tokens))
    assert lockstep_equal(a, b, rng, lanes=16, steps=30)


@given(
    layers=st.integers(1, 2),
    heads=st.sampled_from([1, 2, 4]),
    head_dim=st.sampled_from([4, 8, 16]),
    seed=st.integers(0, 2**16),
    lanes=st.integers(1, 12),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fused_step_equals_torch_property(layers, heads, head_dim, seed, lanes):
    config = M1Config(n_layer=layers, d_model=heads * head_dim, n_head=heads, d_mlp=2 * heads * head_dim)
    a, b = twins(config, seed, text=[bytes(np.random.default_rng(seed).integers(0, 256, 80, dtype=np.uint8))])
    assert lockstep_equal(a, b, np.random.default_rng(seed), lanes, steps=12)


def test_fused_step_equals_torch_on_real_text(tiny_m1, c4_sample):
    """The trained checkpoint, documents of C4 fed through the cache and recomputed whole."""
    path = tiny_m1 / INTEGER_FILE
    a, b = IntegerM1.load(path, fused=False), IntegerM1.load(path)
    docs = [symbols_of(d)[:300] for d in list(read_documents(c4_sample, limit=70))[60:70]]
    tokens = torch.tensor([[BOS, *d[:-1].tolist()] for d in docs if d.size == 300])
    assert torch.equal(a.cdfs(tokens), b.cdfs(tokens))
    ca, cb = a.new_cache(len(docs)), b.new_cache(len(docs))
    sa, sb = ca.take(len(docs)), cb.take(len(docs))
    for j in range(120):
        fed = [i for i, d in enumerate(docs) if j < d.size]
        tok = np.array([BOS if j == 0 else docs[i][j - 1] for i in fed])
        assert torch.equal(a.extend(ca, sa[fed], tok), b.extend(cb, sb[fed], tok))
    model = M1ByteModel(b)
    assert np.array_equal(
        model.predict(np.stack([d[:50] for d in docs]))[0], M1ByteModel(a).predict(np.stack([d[:50] for d in docs]))[0]
    )


def test_fused_path_is_for_the_cpu_only():
    torch_path, _ = twins(M1Config(1, 32, 2, 64), seed=0)
    with pytest.raises(ValueError, match="CPU"):
        IntegerM1(torch_path.t, 1, 2, fused=True, device="meta")


# -- the kernels' entry points on bad input -------------------------------------------------

LUT = exp_table().numpy().astype(np.int32)


def read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def attend_with(**overrides):
    """A valid m1_attend call (2 rows, 2 heads of 4, a cache of 3 slots x 5 positions), spoiled."""
    args = {
        "qkv": np.ones((2, 24), np.int8),
        "slot": np.array([0, 2], np.int64),
        "pos": np.array([0, 4], np.int64),
        "k": np.zeros((3, 2, 5, 4), np.int8),
        "v": np.zeros((3, 2, 5, 4), np.int8),
        "score": 0.5,
        "slopes": np.ones(2, np.float32),
        "v_to_att": 1.0,
        "lut": LUT,
        "out": np.empty((2, 8), np.int8),
    }
    args.update(overrides)
    return _coder.m1_attend(*args.values())


def cdfs_with(**overrides):
    args = {
        "acc": np.zeros((2, 257), np.int32),
        "bias": np.zeros(257, np.float32),
        "m": np.ones(257, np.float32),
        "lut": LUT,
        "precision": 14,
        "out": np.empty((2, 258), np.int32),
    }
    args.update(overrides)
    return _coder.m1_cdfs(*args.values())


def layernorm_with(**overrides):
    args = {
        "r": np.zeros((2, 8), np.int32),
        "g": np.ones(8),
        "h": np.zeros(8),
        "eps": 1e-5,
        "out": np.empty((2, 8), np.int8),
    }
    args.update(overrides)
    return _coder.m1_layernorm(*args.values())


def requant_with(**overrides):
    args = {
        "acc": np.zeros((2, 8), np.int32),
        "bias": np.zeros(8, np.float32),
        "m": np.ones(8, np.float32),
        "lo": 0.0,
        "hi": 127.0,
        "out": np.empty((2, 8), np.int8),
    }
    args.update(overrides)
    return _coder.m1_requant(*args.values())


def test_valid_kernel_calls_succeed():
    attend_with()
    cdfs_with()
    layernorm_with()
    requant_with()
    _coder.m1_residual(
        np.zeros((2, 8), np.int32), np.zeros((2, 8), np.int32), np.zeros(8, np.float32), np.ones(8, np.float32)
    )


BAD_KERNEL_CALLS = [
    ("slot past the cache", lambda: attend_with(slot=np.array([0, 3], np.int64)), IndexError),
    ("negative slot", lambda: attend_with(slot=np.array([-1, 0], np.int64)), IndexError),
    ("position past the cache", lambda: attend_with(pos=np.array([0, 5], np.int64)), IndexError),
    ("negative position", lambda: attend_with(pos=np.array([-1, 0], np.int64)), IndexError),
    ("qkv width", lambda: attend_with(qkv=np.ones((2, 23), np.int8)), ValueError),
    ("qkv float", lambda: attend_with(qkv=np.ones((2, 24), np.float32)), TypeError),
    ("v shape", lambda: attend_with(v=np.zeros((3, 2, 4, 4), np.int8)), ValueError),
    ("slot length", lambda: attend_with(slot=np.zeros(3, np.int64)), ValueError),
    ("slot int32", lambda: attend_with(slot=np.zeros(2, np.int32)), TypeError),
    ("slopes length", lambda: attend_with(slopes=np.ones(3, np.float32)), ValueError),
    ("read-only cache", lambda: attend_with(k=read_only(np.zeros((3, 2, 5, 4), np.int8))), TypeError),
    ("non-contiguous cache", lambda: attend_with(k=np.zeros((3, 2, 5, 8), np.int8)[..., ::2]), TypeError),
    ("empty lut", lambda: attend_with(lut=np.zeros(0, np.int32)), ValueError),
    ("lut entry 2^15 + 1", lambda: attend_with(lut=np.array([1, 1 << 15 | 1], np.int32)), ValueError),
    ("lut starts at 0", lambda: cdfs_with(lut=np.zeros(4, np.int32)), ValueError),
    ("out width", lambda: attend_with(out=np.empty((2, 9), np.int8)), ValueError),
    ("cdfs out width", lambda: cdfs_with(out=np.empty((2, 257), np.int32)), ValueError),
    ("cdfs bias length", lambda: cdfs_with(bias=np.zeros(256, np.float32)), ValueError),
    (
        "cdfs alphabet 1",
        lambda: cdfs_with(
            acc=np.zeros((2, 1), np.int32),
            bias=np.zeros(1, np.float32),
            m=np.ones(1, np.float32),
            out=np.empty((2, 2), np.int32),
        ),
        ValueError,
    ),
    ("cdfs precision 17", lambda: cdfs_with(precision=17), ValueError),
    ("cdfs NaN multiplier", lambda: cdfs_with(m=np.full(257, np.nan, np.float32)), ValueError),
    ("cdfs inf multiplier", lambda: cdfs_with(m=np.full(257, np.inf, np.float32)), ValueError),
    ("residual out of range", lambda: layernorm_with(r=np.full((2, 8), 40000, np.int32)), ValueError),
    ("layernorm g length", lambda: layernorm_with(g=np.ones(7)), ValueError),
    (
        "layernorm too wide",
        lambda: layernorm_with(
            r=np.zeros((1, 40000), np.int32), g=np.ones(40000), h=np.zeros(40000), out=np.empty((1, 40000), np.int8)
        ),
        ValueError,
    ),
    ("requant hi 128", lambda: requant_with(hi=128.0), ValueError),
    ("requant lo > hi", lambda: requant_with(lo=5.0, hi=4.0), ValueError),
    ("requant NaN bound", lambda: requant_with(lo=float("nan")), ValueError),
    ("requant out shape", lambda: requant_with(out=np.empty((2, 7), np.int8)), ValueError),
    (
        "residual acc shape",
        lambda: _coder.m1_residual(
            np.zeros((2, 8), np.int32), np.zeros((2, 7), np.int32), np.zeros(8, np.float32), np.ones(8, np.float32)
        ),
        ValueError,
    ),
]


@pytest.mark.parametrize("name, call, error", BAD_KERNEL_CALLS, ids=[b[0] for b in BAD_KERNEL_CALLS])
def test_bad_kernel_calls_raise(name, call, error):
    with pytest.raises(error):
        call()


@given(
    rows=st.integers(0, 6),
    slots=st.integers(1, 4),
    capacity=st.integers(1, 6),
    heads=st.integers(1, 3),
    head_dim=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    score=st.floats(allow_nan=True, allow_infinity=True, width=32),
)
@settings(max_examples=200, deadline=None)
def test_attend_on_garbage(rows, slots, capacity, heads, head_dim, seed, score):
    """Random caches, queries, slots and positions (some outside the cache), any score: the
    kernel computes or raises IndexError, and its outputs stay within the activation range."""
    rng = np.random.default_rng(seed)
    d = heads * head_dim
    k, v = (rng.integers(-128, 128, (slots, heads, capacity, head_dim)).astype(np.int8) for _ in "kv")
    out = np.empty((rows, d), np.int8)
    slot, pos = rng.integers(-1, slots + 1, rows), rng.integers(-1, capacity + 1, rows)
    qkv = rng.integers(-128, 128, (rows, 3 * d)).astype(np.int8)
    slopes = rng.standard_normal(heads).astype(np.float32) * 100
    try:
        _coder.m1_attend(qkv, slot, pos, k, v, score, slopes, 1.0, LUT, out)
    except IndexError:
        assert ((slot < 0) | (slot >= slots) | (pos < 0) | (pos >= capacity)).any()
    else:
        assert (np.abs(out.astype(np.int32)) <= 127).all()


@given(
    acc=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=2, max_size=40),
    m=st.floats(width=32),
    precision=st.integers(6, 16),
)
@settings(max_examples=200, deadline=None)
def test_cdfs_on_garbage(acc, m, precision):
    """Any accumulators and any multiplier: a valid CDF row, or ValueError for a non-finite one."""
    a = np.array([acc], np.int32)
    out = np.empty((1, a.shape[1] + 1), np.int32)
    try:
        _coder.m1_cdfs(a, np.zeros(a.shape[1], np.float32), np.full(a.shape[1], m, np.float32), LUT, precision, out)
    except ValueError as exc:
        assert "finite" in str(exc) or "alphabet" in str(exc)
    else:
        _coder.check_cdfs(out, precision)
