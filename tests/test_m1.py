"""M1: training that resumes exactly, and the integer path's exactness across batch, padding,
threads and full recompute, with its cost against the float model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from compressor.codecs.arithmetic import ArithmeticCodec
from compressor.codecs.equal_info import EqualInfoCodec
from compressor.io.corpus import read_documents
from compressor.models.base import symbols_of
from compressor.models.m1.bytemodel import INTEGER_FILE, M1ByteModel
from compressor.models.m1.checkpoint import load_model
from compressor.models.m1.evaluate import bits_per_byte
from compressor.models.m1.integer import IntegerM1
from compressor.models.m1.model import BOS, M1, M1Config
from compressor.models.m1.train import ResumeError, TrainConfig, ema_decay, train

TINY = M1Config(n_layer=2, d_model=64, n_head=4, d_mlp=128)
FAST = {"lr": 3e-3, "batch_tokens": 512, "long_len": 64, "short_len": 24, "warmup": 5}


@pytest.fixture(scope="module")
def docs(c4_sample):
    return list(read_documents(c4_sample, limit=120))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, docs):
    out = tmp_path_factory.mktemp("m1")
    train(docs[:80], [], out, TINY, TrainConfig(steps=80, eval_every=1000, **FAST), log=lambda s: None)
    model = load_model(out)
    integer = IntegerM1.calibrate(model, docs[:8])
    integer.save(out / INTEGER_FILE)
    return model, integer, out


def test_resume_is_exact(tmp_path, docs):
    straight, split = tmp_path / "a", tmp_path / "b"
    cfg = TrainConfig(steps=6, eval_every=3, dropout=0.2, **FAST)
    train(docs[:20], docs[100:102], straight, TINY, cfg, log=lambda s: None)
    first = TrainConfig(steps=3, eval_every=3, dropout=0.2, **FAST)
    train(docs[:20], docs[100:102], split, TINY, first, log=lambda s: None)
    torch.manual_seed(123)  # resuming must not depend on the RNG it starts with
    state = train(docs[:20], docs[100:102], split, TINY, cfg, resume=True, log=lambda s: None)
    assert state["step"] == 6
    for name in ("model.safetensors", "optimizer.safetensors"):  # the average, and the trained weights
        a, b = load_file(straight / name), load_file(split / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = M1Config(n_layer=1, d_model=32, n_head=2, d_mlp=64)
    with pytest.raises(ResumeError, match="holds an M1 of"):
        train(docs[:20], [], split, other, cfg, resume=True, log=lambda s: None)
    with pytest.raises(ResumeError, match=r"seed=0 \(now 1\)"):
        train(docs[:20], [], split, TINY, TrainConfig(steps=8, seed=1, dropout=0.2, **FAST), resume=True)
    saved = json.loads((split / "train_state.json").read_text())
    del saved["train_config"]["dropout"]  # a run saved before the setting existed: it counts as the default
    (split / "train_state.json").write_text(json.dumps(saved))
    with pytest.raises(ResumeError, match=r"dropout=0.0 \(now 0.2\)"):
        train(docs[:20], [], split, TINY, cfg, resume=True)
    del saved["train_config"]["ema_power"]  # older runs had no average: they count as none, not the default
    (split / "train_state.json").write_text(json.dumps(saved))
    with pytest.raises(ResumeError, match=r"ema_power=0.0 \(now 4.0\)"):
        train(docs[:20], [], split, TINY, cfg, resume=True)


@pytest.mark.parametrize("power", [1.0, 4.0])
def test_power_average_sits_at_its_share_of_any_run(power):
    tc = TrainConfig(ema_power=power)
    for steps in (300, 3000):
        average = 0.0
        for step in range(steps):
            average += (1 - ema_decay(step, tc)) * (step + 1 - average)  # weights that equal their step
        assert average / steps == pytest.approx((power + 1) / (power + 2), rel=0.02)


def test_average_is_what_inference_loads_and_leaves_training_alone(tmp_path, docs):
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    train(docs[:20], [], plain, TINY, TrainConfig(steps=5, ema_power=0.0, **FAST), log=lambda s: None)
    train(docs[:20], [], averaged, TINY, TrainConfig(steps=5, ema_power=4.0, **FAST), log=lambda s: None)
    trained = load_file(plain / "model.safetensors")
    kept = load_file(averaged / "optimizer.safetensors")
    assert all(torch.equal(trained[k], kept["trained." + k]) for k in trained)
    average = load_model(averaged).state_dict()
    assert not any(torch.equal(trained[k], average[k]) for k in trained if k.endswith("weight"))


def test_dropout_acts_in_training_only(docs):
    model = M1(TINY, dropout=0.5)
    plain = M1(TINY)
    plain.load_state_dict(model.state_dict())
    toks = torch.tensor([[BOS, *docs[0][:40]]])
    assert torch.equal(model.eval()(toks), plain.eval()(toks))
    assert not torch.allclose(model.train()(toks), plain.train()(toks))


@pytest.mark.parametrize("long_per_short", [1, 3])
def test_mixture_interleaves_long_and_short_steps(docs, long_per_short):
    from compressor.models.m1.data import SegmentSampler

    sampler = SegmentSampler(docs[:10], seed=0)
    for step in range(8):
        inputs, targets = sampler.mixture_batch(step, 512, 64, 24, long_per_short)
        short = step % (long_per_short + 1) == long_per_short
        assert (inputs.shape[1] <= 24) if short else (inputs.shape == (8, 64))
        assert (inputs[:, 0] == BOS).all() and inputs.size <= 512
        assert np.array_equal(inputs[:, 1:][targets[:, 1:] >= 0], targets[:, :-1][targets[:, 1:] >= 0])


def test_training_lowers_held_out_bits(tiny, docs):
    model, _, _ = tiny
    assert bits_per_byte(model, docs[100:110]) < 7.0  # uniform is 8.006


def test_integer_cdfs_ignore_batch_padding_and_threads(tiny, docs):
    _, integer, _ = tiny
    rows = [symbols_of(d)[:40] for d in docs[100:104]]
    alone = [integer.cdfs(torch.tensor([[BOS, *r[:-1].tolist()]])) for r in rows]
    torch.set_num_threads(1)
    batch = integer.cdfs(torch.tensor([[BOS, *r[:-1].tolist()] for r in rows]))
    padded = integer.cdfs(torch.tensor([[BOS, *r.tolist(), 7, 7, 7] for r in rows]))[:, :40]
    torch.set_num_threads(2)
    for i, a in enumerate(alone):
        assert torch.equal(a[0], batch[i]) and torch.equal(a[0], padded[i])


def test_batch_of_64_encoded_with_2_threads_decodes_alone_with_1(tiny, docs):
    _, integer, _ = tiny
    texts = [d[:150] for d in docs[:64]]
    codec = EqualInfoCodec(M1ByteModel(integer), 16, 16)
    torch.set_num_threads(2)
    batch_tokens = [e.tokens for e in codec.encode_batch(texts)]
    torch.set_num_threads(1)
    try:
        for i in range(0, 64, 9):
            [alone] = codec.encode_batch([texts[i]])
            assert np.array_equal(alone.tokens, batch_tokens[i])
            assert codec.decode_batch([batch_tokens[i]]) == [texts[i]]
    finally:
        torch.set_num_threads(2)


@pytest.mark.parametrize("lanes", [1, 3, 7])
def test_documents_taking_lanes_in_turn_code_and_decode_the_same(tiny, docs, lanes):
    """With fewer lanes than documents, finished documents hand their lane to the next one; the
    windows are those of every document at once, and decode the same way."""
    _, integer, _ = tiny
    texts = [d[: 40 + 17 * i] for i, d in enumerate(docs[:9])]
    sessions = []

    class Recording(M1ByteModel):
        def session(self, n):
            sessions.append(super().session(n))
            return sessions[-1]

    together = EqualInfoCodec(M1ByteModel(integer, lanes=64), 16, 16, example_bytes=100)
    in_turn = EqualInfoCodec(Recording(integer, lanes=lanes), 16, 16, example_bytes=100)
    expected = [e.tokens for e in together.encode_batch(texts)]
    got = [e.tokens for e in in_turn.encode_batch(texts)]
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))
    assert in_turn.decode_batch(got) == texts
    # the KV cache holds a slot per lane, not per document, in encoding and decoding alike
    assert len(sessions) == 2 and all(s.cache.rows == lanes for s in sessions)


@pytest.mark.parametrize("kind", ["ac", "equal_info_ac"])
def test_random_streams_are_rejected_in_work_proportional_to_their_length(tiny, kind):
    """Decoding stops once the decoded symbols cost more than the stream's bits (plain AC), or
    at each window's end (Equal-Info): M1 steps grow with the stream, never run away."""
    _, integer, _ = tiny
    model = M1ByteModel(integer)
    codec = ArithmeticCodec(model, 16) if kind == "ac" else EqualInfoCodec(model, 32, 16)
    rng = np.random.default_rng(0)
    for tokens in (4, 16, 32):
        streams = [rng.integers(0, 1 << 16, tokens).astype(np.int32) for _ in range(4)]
        steps = []
        results = codec.decode_batch(streams, progress=steps.append)
        assert all(isinstance(r, ValueError) for r in results)
        assert sum(steps) <= 4 * 16 * tokens  # under one M1 step per stream bit (the old cap: 44)


@pytest.mark.parametrize("segment,max_tokens", [(1024, 1 << 16), (5, 8)])
def test_kv_cache_session_gives_the_cdfs_of_full_recompute(tiny, segment, max_tokens):
    from compressor.codecs.sessions import RecomputeSession

    model = M1ByteModel(tiny[1], max_tokens=max_tokens)
    model.segment = segment  # small: the session restarts segments itself, as predict does
    n, rng = 6, np.random.default_rng(1)
    cached, recompute = model.session(n), RecomputeSession(model, n)
    for _ in range(40):
        live = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        (a, ra), (b, rb) = cached.next_cdfs(live), recompute.next_cdfs(live)
        assert np.array_equal(a[ra], b[rb])
        symbols = rng.integers(0, 256, live.size)
        cached.append(live, symbols)
        recompute.append(live, symbols)
        fresh = live[rng.random(live.size) < 0.15]
        cached.reset(fresh)
        recompute.reset(fresh)


def test_integer_path_costs_under_one_percent(tiny, docs):
    model, integer, _ = tiny
    test = docs[100:110]
    assert bits_per_byte(integer, test, chunk=256) <= bits_per_byte(model, test, chunk=256) * 1.01


def test_integer_model_saves_and_loads(tiny, tmp_path, docs):
    _, integer, _ = tiny
    integer.save(tmp_path / "i.safetensors")
    again = IntegerM1.load(tmp_path / "i.safetensors")
    toks = torch.tensor([[BOS, *docs[5][:30]]])
    assert torch.equal(integer.cdfs(toks), again.cdfs(toks))


def test_cli_train_eval_calibrate(tmp_path, c4_sample):
    run = [sys.executable, "-m", "compressor.cli"]
    out = tmp_path / "m1"
    base = ["--input", str(c4_sample), "--out", str(out), "--size", "tiny", "--limit", "30", "--holdout", "5"]
    proc = subprocess.run(
        [
            *run,
            "train-m1",
            *base,
            "--steps",
            "4",
            "--eval-every",
            "2",
            "--eval-docs",
            "2",
            "--lr",
            "0.003",
            "--dropout",
            "0.1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["step"] == 4
    train_config = json.loads((out / "train_state.json").read_text())["train_config"]
    assert train_config["lr"] == 0.003 and train_config["dropout"] == 0.1
    assert (out / "integer.safetensors").is_file()
    proc = subprocess.run(
        [*run, "train-m1", *base, "--steps", "6", "--eval-every", "2", "--lr", "0.002"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2 and "lr=0.003 (now 0.002)" in proc.stderr and "--no-resume" in proc.stderr
    proc = subprocess.run(
        [*run, "train-m1", *base, "--steps", "6", "--eval-every", "2", "--lr", "0.003", "--dropout", "0.1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "resumed at step 4" in proc.stdout
    proc = subprocess.run(
        [*run, "eval-m1", "--m1", str(out), "--input", str(c4_sample), "--skip", "890", "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["documents"] == 3 and 0 < result["float_full"] < 9 and 0 < result["integer_full"] < 9
    assert result["xz"] > 0


@pytest.mark.parametrize(
    "spec", ["equal_info_ac:b=16,v=65536,m1={}", "equal_info_ac:b=24,v=256,m1={}", "ac:v=256,m1={}"]
)
def test_m1_tokenizers_round_trip(tiny, docs, spec):
    from compressor.tokenizers import parse_spec

    tok = parse_spec(spec.format(tiny[2]))
    texts = [d[:120] for d in docs[100:104]]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts


@pytest.mark.parametrize("name,message", [("gpu", "not a device name"), ("cuda:7", "no such CUDA device")])
def test_m1_device_errors_are_clear(tiny, monkeypatch, name, message):
    with pytest.raises(ValueError, match=message):
        M1ByteModel.load(tiny[2], name)
    monkeypatch.setenv("EQINFO_M1_DEVICE", name)
    with pytest.raises(ValueError, match=message):
        M1ByteModel.load(tiny[2])
    monkeypatch.setenv("EQINFO_M1_DEVICE", "cpu")
    assert M1ByteModel.load(tiny[2]).integer.device.type == "cpu"


def test_m1_spec_precision_must_match(tiny):
    from compressor.tokenizers import parse_spec

    with pytest.raises(ValueError, match="calibrated for p=14"):
        parse_spec(f"ac:v=256,m1={tiny[2]},p=12").encode(b"x")


def test_plain_ac_restarts_context_every_segment(tiny, docs):
    from compressor.codecs.arithmetic import ArithmeticCodec

    model = M1ByteModel(tiny[1])
    model.segment = 7  # restart often, so documents cross many segment boundaries
    texts = [d[:60] for d in docs[100:104]]
    codec = ArithmeticCodec(model, 8)
    encoded = codec.encode_batch(texts)
    assert codec.decode_batch([e.tokens for e in encoded]) == texts
    whole = M1ByteModel(tiny[1])
    assert [e.tokens.tolist() for e in ArithmeticCodec(whole, 8).encode_batch(texts)] != [
        e.tokens.tolist() for e in encoded
    ]


def test_bench_m1_counts_work_and_checks_exactness(tiny, docs):
    from compressor.bench import m1 as bench_m1

    examples = bench_m1.equal_examples(docs[:20], 6, 64)
    assert len(examples) == 6 and all(len(e) == 64 for e in examples)
    decoder = M1ByteModel(IntegerM1.load(tiny[2] / INTEGER_FILE, device="cpu"))
    result = bench_m1.run(M1ByteModel(tiny[1]), examples, 16, decode_model=decoder)
    assert result["exact"] is True and result["raw_bytes"] == 6 * 64
    assert result["encode_device"] == result["decode_device"] == "cpu"
    assert result["encode_gflops_s"] > 0 and 0 < result["encode_peak_fraction"] < 1
