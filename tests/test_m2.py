"""M2 end to end: shards from the real pipeline, real `torchrun` processes with FSDP2 on gloo,
exact resume after SIGKILL, bits/byte checked by hand, generation back to text."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from compressor.io.corpus import read_documents
from compressor.shards import shardset
from compressor.shards.records import Record, digest, doc_rows
from compressor.shards.shardset import read_shard
from compressor.tokenizers import parse_spec
from m2_train import distributed
from m2_train.checkpoint import CONFIG_FILE, MODEL_FILE, Saver, latest, load_exported, write_config
from m2_train.data import open_split
from m2_train.distributed import World
from m2_train.evaluate import evaluate, position_hits, window_ids
from m2_train.generate import continue_ids
from m2_train.loss import IGNORE
from m2_train.model import M2, config_for
from pipelines.compress import run
from pipelines.config import Config
from pipelines.manifest import build, write
from pipelines.shards import write_part, write_shard

TRAIN = ["--model", "tiny", "--batch", "16", "--lr", "3e-3", "--warmup", "5"]


def eqinfo(*args, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compressor.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def byte_shards(tmp_path_factory, c4_sample) -> tuple[str, str]:
    """Bytes shards of real C4 text from the pipeline: training docs 0-119, held-out docs 800-829."""
    root = tmp_path_factory.mktemp("m2-data")
    docs = list(read_documents(c4_sample))
    prefixes = []
    for name, part in (("train", docs[:120]), ("held", docs[800:830])):
        source = root / f"{name}.jsonl"
        source.write_text("".join(json.dumps({"text": d.decode()}) + "\n" for d in part))
        run(
            Config(
                [str(source)], str(root / name / "bytes"), "bytes", seq_len=128, batch_bytes=40_000, shard_bytes=100_000
            ),
            [],
        )
        prefixes.append(str(root / name / "bytes"))
    return prefixes[0], prefixes[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, byte_shards):
    """A tiny M2 trained by two torchrun processes (FSDP2, gloo)."""
    train, held = byte_shards
    out = tmp_path_factory.mktemp("m2") / "run"
    proc = eqinfo(
        "train-m2",
        *("--shards", train, "--eval-shards", held, "--out", out, *TRAIN),
        *("--steps", "60", "--log-every", "5", "--eval-every", "30", "--save-every", "30", "--nproc-per-node", "2"),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc


def test_two_processes_learn_bytes_below_the_uniform_baseline(trained, byte_shards):
    out, proc = trained
    assert "2 process(es) on cpu" in proc.stdout
    rows = metrics(out)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < losses[0] - 1.0  # from ~ln(257) = 5.55 nats down
    final = [r for r in rows if "eval_bits_per_byte" in r][-1]
    assert final["step"] == 60 and final["eval_uniform_bits_per_byte"] == pytest.approx(8.0)
    assert final["eval_bits_per_byte"] < 7.0
    held = shardset.read_manifest(byte_shards[1])
    assert final["eval_raw_bytes"] == held["counts"]["raw_bytes"] and final["eval_ids"] == held["counts"]["tokens"]
    assert {"step", "loss", "bits_per_byte", "tokens_per_second", "lr"} <= set(rows[0])
    # The exported weights score what the sharded model scored at the end (one process, no FSDP).
    proc = eqinfo("eval-m2", "--run", out, "--shards", byte_shards[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1])["bits_per_byte"] == pytest.approx(final["eval_bits_per_byte"])


@pytest.mark.parametrize(
    "accum", [[], ["--grad-accum", "2"], ["--sync-save"]], ids=["one-batch", "two-micro-batches", "sync-save"]
)
def test_killed_and_resumed_run_repeats_every_loss_of_the_uninterrupted_one(tmp_path, byte_shards, accum):
    train, _ = byte_shards
    args = ["train-m2", "--shards", train, *TRAIN, "--steps", "12", "--log-every", "1", "--save-every", "4", *accum]
    straight = tmp_path / "straight"
    assert eqinfo(*args, "--out", straight, "--nproc-per-node", "2").returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "compressor.cli", *map(str, args), "--out", str(killed), "--nproc-per-node", "2"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = killed / "checkpoints" / "latest"
    deadline = time.monotonic() + 300
    try:
        while not (latest.exists() and latest.read_text() == "step-00000004"):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (killed / MODEL_FILE).exists()
    resumed = eqinfo(*args, "--out", killed, "--nproc-per-node", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout
    a, b = metrics(straight), metrics(killed)
    assert [r["step"] for r in b] == list(range(1, 13))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # exactly, step after step
    other = eqinfo(*args, "--out", killed, "--lr", "1e-2")
    assert other.returncode != 0 and "lr=0.003 (now 0.01)" in other.stderr


def test_micro_batches_give_the_one_batch_step(tmp_path, byte_shards):
    """Two micro-batches of 4 a rank are the records of one batch of 8: the same losses up to the
    order of float sums, and the log lines carry MFU, gradient norm and peak memory."""
    train, _ = byte_shards
    args = ["train-m2", "--shards", train, *TRAIN, "--steps", "6", "--log-every", "1", "--nproc-per-node", "2"]
    runs = {}
    for accum in ("1", "2"):
        proc = eqinfo(*args, "--grad-accum", accum, "--out", tmp_path / accum)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[accum] = metrics(tmp_path / accum)
    assert [r["loss"] for r in runs["2"]] == pytest.approx([r["loss"] for r in runs["1"]], rel=1e-5)
    for r in runs["2"]:
        assert 0 < r["mfu"] < 1 and r["grad_norm"] > 0 and r["peak_memory_bytes"] > 2**20
    assert "MFU against 2 x float32 GEMM measured" in proc.stdout and "micro-batch(es) of 4 a rank" in proc.stdout
    bad = eqinfo(*args, "--grad-accum", "3", "--out", tmp_path / "bad")
    assert bad.returncode != 0 and "--batch 16 is not a multiple of the 2 processes x 3 micro-batches" in bad.stderr


def test_periodic_evaluations_score_the_first_records_and_the_last_all(tmp_path, byte_shards):
    train, held = byte_shards
    args = ["train-m2", "--shards", train, "--eval-shards", held, *TRAIN, "--steps", "4", "--eval-every", "2"]
    proc = eqinfo(*args, "--eval-records", "3", "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evals = [r for r in metrics(tmp_path / "run") if "eval_ids" in r]
    assert [r["step"] for r in evals] == [2, 4]
    records = [Record.from_bytes(b) for p in open_split(held).paths for b in read_shard(p)]
    end = next(k for k in range(3, len(records)) if not records[k].continues)  # record 3 on, to a document's end
    assert evals[0]["eval_ids"] == sum(r.ids.size for r in records[:end])
    assert evals[0]["eval_raw_bytes"] == sum(r.raw_bytes for r in records[:end]) > 0
    assert evals[1]["eval_ids"] == sum(r.ids.size for r in records) > evals[0]["eval_ids"]


def test_a_save_in_flight_never_becomes_latest(tmp_path, monkeypatch):
    from conftest import free_port

    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
        monkeypatch.setenv(key, value)  # restored after the test: later commands must not think they run under torchrun
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    world = distributed.start("cpu")
    try:
        model = M2(config_for("tiny", 256, seq_len=16))
        optimizer = torch.optim.AdamW(model.parameters())
        saver = Saver(str(tmp_path), world)
        saver.start(2, model, optimizer, {})
        assert latest(str(tmp_path)) is None  # written in the background: not in force yet
        saver.start(4, model, optimizer, {})  # waits for step 2, makes it latest, then starts step 4
        assert latest(str(tmp_path)) == "step-00000002"
        saver.finish()
        assert latest(str(tmp_path)) == "step-00000004"
    finally:
        distributed.stop()


def test_bits_per_byte_on_hand_made_shards_is_the_hand_computed_value(tmp_path):
    """Two records (one padded) and an M2 whose output is uniform: every real id costs log2(vocab)."""
    prefix = str(tmp_path / "hand" / "x")
    texts = [b"hello", b"shard", b"sets!"]
    r0 = Record(
        0, 0, 0, 8, np.frombuffer(b"hellosha", np.uint8).astype(np.int64), doc_rows([1], [5], [5], [digest(texts[0])])
    )
    r1_ids = np.frombuffer(b"rdsets!", np.uint8).astype(np.int64)
    r1_docs = doc_rows([2, 3], [5, 5], [2, 7], [digest(texts[1]), digest(texts[2])])
    r1 = Record(0, 0, 1, 8, r1_ids, r1_docs, continues=True, last=True)
    info = write_shard(prefix, [write_part(prefix, 0, [r0, r1], 1, {})], "uncompressed").as_dict()
    counts = {"documents": 3, "examples": 3, "raw_bytes": 15, "tokens": 15, "windows": 0, "coded_bits": 0}
    plan = {"vocab_size": 256, "id_bytes": 1, "unit_tokens": 1, "seq_len": 8, "compression": "uncompressed"}
    plan.update(batch_bytes=1 << 20, shard_bytes=1 << 28, coder_processes=0)
    plan.update(tokenizer="bytes", method="bytes", models={}, files=["hand.txt"], versions={}, runner="-", started=0)
    write(prefix, build(plan, {**counts, "padding_bits": 0}, [info], {}), [], ["hand.txt"])
    cfg = config_for("tiny", 256, seq_len=8)
    model = M2(cfg)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    result = evaluate(model, cfg, open_split(prefix), World(0, 1, 0, torch.device("cpu")), batch=4)
    assert result["ids"] == 15 and result["raw_bytes"] == 15  # the PAD of record 1 is no target
    assert result["bits_per_byte"] == pytest.approx(15 * math.log2(257) / 15, rel=1e-6)  # float32 log-softmax
    assert result["uniform_bits_per_byte"] == pytest.approx(8.0)


def test_accuracy_by_window_position_on_a_hand_made_batch_is_the_hand_count():
    # two records, 2 ids a window: offsets 0, 2, 4 are a window's first id, 1, 3 its second
    targets = torch.tensor([[3, 1, 2, 0, IGNORE], [0, 0, 1, IGNORE, IGNORE]])
    guesses = torch.tensor([[3, 0, 2, 2, 1], [0, 0, 3, 0, 0]])
    hits, seen = position_hits(guesses, targets, 2)
    # first ids (offsets 0, 2): 3=3, 2=2, 0=0 right, 1 vs 3 wrong; second ids (offsets 1, 3): 1 vs 0
    # and 0 vs 2 wrong, 0=0 right; offset 4 of row 0 and offsets 3, 4 of row 1 are PAD
    assert hits.tolist() == [3.0, 1.0] and seen.tolist() == [4.0, 3.0]
    hits3, seen3 = position_hits(guesses, targets, 3)  # offsets 0, 3 | 1, 4 | 2
    assert hits3.tolist() == [2.0, 1.0, 1.0] and seen3.tolist() == [3.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("spec", "ids"),
    [
        ("equal_info_ac:b=64,v=256,m1=/m1", 8),
        ("equal_info_ac:b=128,v=65536,m1=/m1", 8),
        ("equal_info_ac:b=16,v=256,m1=/m1", 2),
        ("equal_info_ac:b=16,v=65536,m1=/m1", 1),
        ("equal_info_ac:b=24,v=65536,m1=/m1", 1),  # 1.5 ids a window: no position to tell apart
        ("ac:v=256,m1=/m1", 1),
        ("bytes", 1),
    ],
)
def test_ids_per_window(spec, ids):
    assert window_ids(spec) == ids


def test_generation_decodes_bytes_and_reports_where_a_sample_stops(trained, tmp_path):
    out, _ = trained
    proc = eqinfo("generate", "--run", out, "--prompt", "The best", "--max-new-tokens", "24", "--samples", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert len(result["samples"]) == 2 and result["tokenizer"] == "bytes"
    for s in result["samples"]:
        assert len(s["ids"]) == 24 and s["ids_used"] == 32 and s["text"].encode("utf-8", "replace")
    # An id outside the vocabulary (a run over another tokenizer) is refused before sampling.
    proc = eqinfo("generate", "--run", out, "--tokenizer", "gzip:v=65536", "--prompt", "x")
    assert proc.returncode == 2 and "65536 ids" in proc.stderr


def test_equal_info_generation_continues_the_prompts_windows(tmp_path, tiny_m1, c4_sample):
    spec = f"equal_info_ac:b=16,v=256,m1={tiny_m1}"
    source = tmp_path / "docs.jsonl"
    docs = [d for d in read_documents(c4_sample, limit=60) if len(d) < 800][:8]
    source.write_text("".join(json.dumps({"text": d.decode()}) + "\n" for d in docs))
    run(Config([str(source)], str(tmp_path / "eq"), spec, seq_len=32), [])
    out = tmp_path / "run"
    proc = eqinfo("train-m2", "--shards", tmp_path / "eq", "--out", out, *TRAIN, "--steps", "3", "--batch", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    prompt = "The best thing about the"
    proc = eqinfo("generate", "--run", out, "--prompt", prompt, "--max-new-tokens", "12", "--temperature", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    [s] = json.loads(proc.stdout.splitlines()[-1])["samples"]
    tokenizer = parse_spec(spec)
    assert prompt.startswith(s["text"][: len(prompt) - 8])  # the prompt's whole windows, then M2's
    assert s["ended"] or "no EOS yet" in s["note"]
    assert s["ids_used"] <= 12 + tokenizer.encode(prompt).size


def test_the_kv_cache_gives_the_whole_sequences_logits():
    torch.manual_seed(0)
    model = M2(config_for("tiny", 256, seq_len=16)).eval()
    ids = torch.randint(0, 256, (2, 16))
    with torch.no_grad():
        full, cache = model(ids), model.new_cache()
        steps = [model.extend(ids[:, :5], cache), *(model.extend(ids[:, t : t + 1], cache) for t in range(5, 16))]
        assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)
        with pytest.raises(ValueError, match="17 positions exceed M2's 16"):
            model.extend(ids[:, :1], cache)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_with_the_cache_samples_what_recomputing_samples(temperature):
    """Past M2's 16 positions, so the context starts again from PAD and the latest half, twice."""
    torch.manual_seed(1)
    model = M2(config_for("tiny", 256, seq_len=16)).eval()
    prompt = list(range(40, 60))  # longer than the context: PAD and its last 15 ids
    cached = continue_ids(model, prompt, 24, temperature, 0, seed=3, cache=True)
    assert cached == continue_ids(model, prompt, 24, temperature, 0, seed=3, cache=False)
    assert len(cached) == 24 and 256 not in cached  # never PAD


def test_undecodable_ids_are_reported_not_raised(tiny_m1):
    ac = parse_spec(f"ac:v=65536,m1={tiny_m1}")
    prefix = ac.decode_prefix(np.random.default_rng(0).integers(0, 1 << 16, 6))
    assert not prefix.ended and "no EOS within the stream's information" in prefix.note
    assert "is not a byte" in parse_spec("bytes").decode_prefix([104, 105, 300]).note
    gz = parse_spec("gzip:v=256")
    assert "not a gzip stream" in gz.decode_prefix([1, 2, 3]).note


def test_plot_of_several_runs(trained, tmp_path):
    out, _ = trained
    png = tmp_path / "curves.png"
    proc = eqinfo("plot-m2", "--run", out, "--run", out, "--output", png)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_exported_model_loads_without_pickles(trained):
    out, _ = trained
    model, config = load_exported(str(out))
    assert (out / CONFIG_FILE).is_file() and config["tokenizer"] == "bytes"
    assert model.cfg.vocab_size == 257 and not model.training
    write_config(str(out / "copy"), config)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "copy" / MODEL_FILE))
    again, _ = load_exported(str(out / "copy"))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))


def test_launcher_joins_two_nodes_through_a_rendezvous(tmp_path, byte_shards):
    """m2_train/launch.sh as two 'nodes' of one process each, meeting at a c10d endpoint."""
    from conftest import free_port

    root = Path(__file__).resolve().parents[1]
    out, endpoint = tmp_path / "run", f"127.0.0.1:{free_port()}"
    args = ["--shards", byte_shards[0], "--out", out, *TRAIN, "--steps", "3", "--log-every", "1"]

    def node(rank: int) -> subprocess.Popen:
        launcher = [str(root / "m2_train" / "launch.sh"), "--nnodes", "2", "--nproc-per-node", "1"]
        launcher += ["--node-rank", str(rank), "--rdzv-endpoint", endpoint, "--rdzv-id", "test", "--", *map(str, args)]
        env = {**os.environ, "PYTHON": sys.executable}
        return subprocess.Popen(launcher, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    nodes = [node(0), node(1)]
    results = [p.communicate(timeout=600) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], [err[-2000:] for _, err in results]
    assert "2 process(es) on cpu" in results[0][0] + results[1][0]
    assert [r["step"] for r in metrics(out)] == [1, 2, 3] and (out / MODEL_FILE).is_file()


def test_bench_m2_compares_fsdp_with_a_plain_loop(byte_shards):
    memory = ["--memory-vocab", "65536", "--memory-batch", "4", "--memory-seq-len", "128"]
    proc = eqinfo("bench", "m2", "--shards", byte_shards[0], "--model", "tiny", "--steps", "5", *memory)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["plain_tokens_per_second"] > 0 and result["fsdp_tokens_per_second"] > 0
    assert result["training_flops_per_token"] == 3 * config_for("tiny", 256, 128).flops_per_token()
    assert result["generation_tokens_per_second_cache"] > 0 and result["generation_tokens_per_second_recompute"] > 0
    assert "KV cache" in proc.stdout
    assert result["memory_vocab_size"] == 65537 and result["memory_seq_len"] == 128
    # whole float32 logits alone are 4 x 128 x 65,537 x 4 bytes = 128 MiB, a chunk's 64 MiB at most
    assert 0 < result["step_peak_bytes_chunked"] < result["step_peak_bytes_whole"]


def test_a_run_directory_on_gs_saves_resumes_and_exports(gcs, byte_shards):
    """Two saves only: DCP renames its metadata file, and the emulator's rename takes ~30 s."""
    from conftest import url

    args = ["train-m2", "--shards", byte_shards[0], "--out", url("runs/m2"), *TRAIN, "--log-every", "1"]
    first = eqinfo(*args, "--steps", "2", "--save-every", "2", env=dict(os.environ))
    assert first.returncode == 0, first.stderr[-3000:]
    assert gcs.cat(url("runs/m2/checkpoints/latest")) == b"step-00000002"
    again = eqinfo(*args, "--steps", "3", "--save-every", "2", env=dict(os.environ))
    assert again.returncode == 0 and "resumed from gs://" in again.stdout, again.stderr[-3000:]
    rows = [json.loads(line) for line in gcs.cat(url("runs/m2/metrics.jsonl")).decode().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert sorted(p.rsplit("/", 1)[-1] for p in gcs.ls(url("runs/m2/checkpoints"))) == [
        "latest",
        "step-00000002",
        "step-00000003",
    ]
    model, config = load_exported(url("runs/m2"))
    assert config["tokenizer"] == "bytes" and model.cfg.n_layer == 2
