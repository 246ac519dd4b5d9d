"""`eqinfo bench m2`: what FSDP2 with torchrun costs against a plain training loop, what the
chunked loss saves in a training step's peak memory against cross-entropy over whole logits,
and what the KV cache saves in generation against recomputing the context at every step.

The reference is a single process, no process group, the same model, batch and data: the
loop a newcomer would write.  The FSDP2 run is `eqinfo train-m2 --nproc-per-node 2` (gloo on
CPUs), timed from its own metrics after warm-up, so start-up is left out of both.  Peak memory
is a step's high-water resident set above the resident set before it (Linux's VmHWM, reset
through /proc/self/clear_refs), each loss in a fresh process with large blocks returned to the
system when freed, after a first step that allocates the optimizer's state.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import torch

from m2_train.data import loader, open_split
from m2_train.generate import continue_ids
from m2_train.loss import nll_sum
from m2_train.model import M2, SIZES, M2Config, config_for, inputs_and_targets
from m2_train.train import TrainConfig, optimizer_for

WARMUP_STEPS = 5


def plain_loop(shards: str, size: str, batch: int, steps: int) -> float:
    """Real ids per second of a single-process AdamW loop, after WARMUP_STEPS."""
    split = open_split(shards)
    cfg = config_for(size, split.manifest["vocab_size"], split.seq_len)
    torch.manual_seed(0)
    model = M2(cfg)
    optimizer = optimizer_for(model, TrainConfig(shards=shards, out="-"), fused=False)
    data = iter(loader(split, batch, 0, 1, seed=0))
    ids = 0
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            started, ids = time.perf_counter(), 0
        tokens = torch.from_numpy(next(data)["ids"])
        ids += plain_step(model, optimizer, tokens, chunked=True)
    return ids / (time.perf_counter() - started)


def plain_step(model: M2, optimizer: torch.optim.Optimizer, tokens: torch.Tensor, chunked: bool) -> int:
    """One AdamW step on the mean NLL of a batch, by the chunked loss or over whole logits; its real ids."""
    inputs, targets = inputs_and_targets(tokens, model.cfg.pad_id)
    real = int((targets >= 0).sum())
    nll = model(inputs, targets)[0] if chunked else nll_sum(model(inputs), targets)
    (nll / real).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return real


def _resident(field: str) -> int:
    """Bytes of this process's VmRSS or VmHWM (/proc/self/status counts kB)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))


def step_peak(cfg: dict, batch: int, chunked: bool) -> int:
    """Bytes a training step holds at its peak above what is resident before it (run in a fresh
    process: `peak_memory`)."""
    torch.manual_seed(0)
    model = M2(M2Config(**cfg))
    optimizer = optimizer_for(model, TrainConfig(shards="-", out="-"), fused=False)
    tokens = torch.randint(0, model.cfg.pad_id, (batch, model.cfg.seq_len))
    plain_step(model, optimizer, tokens, chunked)  # allocates the optimizer's state
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM := VmRSS
    before = _resident("VmRSS")
    plain_step(model, optimizer, tokens, chunked)
    return _resident("VmHWM") - before


def peak_memory(cfg: M2Config, batch: int, chunked: bool) -> int:
    """`step_peak` in a fresh process, blocks over 1 MiB mapped apart (so freed ones leave the RSS)."""
    code = f"from m2_train.bench import step_peak; print(step_peak({cfg.to_dict()!r}, {batch}, {chunked}))"
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise click.ClickException(f"the peak-memory step failed:\n{proc.stderr[-3000:]}")
    return int(proc.stdout.split()[-1])


def fsdp_run(shards: str, size: str, batch: int, steps: int, nproc: int) -> float:
    """Real ids per second of `eqinfo train-m2` with nproc processes, from its metrics after warm-up."""
    with tempfile.TemporaryDirectory(prefix="eqinfo-bench-m2-") as tmp:
        command = [sys.executable, "-m", "compressor.cli", "train-m2", "--shards", shards, "--out", tmp + "/run"]
        command += ["--model", size, "--batch", str(batch), "--steps", str(WARMUP_STEPS + steps)]
        command += ["--log-every", str(WARMUP_STEPS), "--save-every", str(10**9), "--nproc-per-node", str(nproc)]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode:
            raise click.ClickException(f"train-m2 failed:\n{proc.stderr[-3000:]}")
        rows = [json.loads(line) for line in Path(tmp, "run", "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_second"] for r in rows if "tokens_per_second" in r and r["step"] > WARMUP_STEPS]
    return len(rates) / sum(1 / r for r in rates)  # windows of equal steps: the harmonic mean


def generation_rates(cfg, new: int = 64, rounds: int = 3) -> tuple[float, float]:
    """New ids per second of `continue_ids` with the KV cache and recomputing every step, in
    alternation, medians: a random M2 continuing half a context of random ids past its end."""
    torch.manual_seed(0)
    model = M2(cfg).eval()
    prompt = torch.randint(0, cfg.vocab_size - 1, (cfg.seq_len // 2,)).tolist()
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for cache in (False, True):
            started = time.perf_counter()
            continue_ids(model, prompt, new, 1.0, 0, seed=0, cache=cache)
            rates[cache].append(new / (time.perf_counter() - started))
    return statistics.median(rates[True]), statistics.median(rates[False])


@click.command("m2")
@click.option("--shards", required=True, help="A shard prefix of `eqinfo compress` to train on.")
@click.option("--model", "size", type=click.Choice(list(SIZES)), default="small", show_default=True)
@click.option("--batch", type=click.IntRange(min=2), default=16, show_default=True, help="Sequences per step in all.")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True, help="Timed steps.")
@click.option("--nproc", type=click.IntRange(min=2), default=2, show_default=True)
@click.option(
    "--memory-vocab",
    type=click.IntRange(min=0),
    default=65536,
    show_default=True,
    help="Tokenizer ids of the peak-memory step (the model's size, random ids); 0 skips it.",
)
@click.option("--memory-batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--memory-seq-len", type=click.IntRange(min=2), default=512, show_default=True)
def bench_m2(shards, size, batch, steps, nproc, memory_vocab, memory_batch, memory_seq_len):
    """Tokens/s of FSDP2 under torchrun against a plain single-process loop, and FLOPs per token;
    a training step's peak memory with the chunked loss against whole logits; generation with
    and without the KV cache."""
    split = open_split(shards)
    cfg = config_for(size, split.manifest["vocab_size"], split.seq_len)
    steps = -(-steps // WARMUP_STEPS) * WARMUP_STEPS  # whole logging windows
    plain = plain_loop(shards, size, batch, steps)
    fsdp = fsdp_run(shards, size, batch, steps, nproc)
    flops = cfg.flops_per_token(training=True)
    cached, recomputed = generation_rates(cfg)
    memory = {}
    if memory_vocab:
        big = config_for(size, memory_vocab, memory_seq_len)
        memory = {f"step_peak_bytes_{k}": peak_memory(big, memory_batch, k == "chunked") for k in ("whole", "chunked")}
        memory |= {
            "memory_vocab_size": big.vocab_size,
            "memory_batch": memory_batch,
            "memory_seq_len": memory_seq_len,
            "chunked_vs_whole_peak": round(memory["step_peak_bytes_chunked"] / memory["step_peak_bytes_whole"], 3),
        }
    result = {
        "model": size,
        "parameters_without_embeddings": cfg.parameters_without_embeddings(),
        "vocab_size": cfg.vocab_size,
        "batch": batch,
        "seq_len": cfg.seq_len,
        "training_flops_per_token": flops,
        "plain_tokens_per_second": round(plain, 1),
        "fsdp_tokens_per_second": round(fsdp, 1),
        "fsdp_processes": nproc,
        "fsdp_vs_plain": round(fsdp / plain, 3),
        "plain_flops_per_second": round(plain * flops),
        "threads": torch.get_num_threads(),
        "generation_tokens_per_second_cache": round(cached, 1),
        "generation_tokens_per_second_recompute": round(recomputed, 1),
        "generation_cache_speedup": round(cached / recomputed, 2),
        **memory,
    }
    click.echo(
        f"M2 {size} ({result['parameters_without_embeddings']:,} parameters without embeddings, vocabulary "
        f"{cfg.vocab_size:,}), {batch} x {cfg.seq_len} ids per step, {flops / 1e6:,.1f} MFLOPs per training token\n"
        f"plain single-process loop ({result['threads']} threads): {plain:,.0f} tokens/s\n"
        f"FSDP2, torchrun x {nproc} (gloo):                {fsdp:,.0f} tokens/s = {result['fsdp_vs_plain']:.3f}x\n"
        f"generation, 64 ids after {cfg.seq_len // 2}: KV cache {cached:,.0f} ids/s, recomputing "
        f"{recomputed:,.0f} ids/s = {result['generation_cache_speedup']:.2f}x"
    )
    if memory:
        click.echo(
            f"a training step's peak memory at vocabulary {memory['memory_vocab_size']:,}, {memory_batch} x "
            f"{memory_seq_len} ids: whole logits {memory['step_peak_bytes_whole'] / 2**30:.2f} GiB, chunked loss "
            f"{memory['step_peak_bytes_chunked'] / 2**30:.2f} GiB = {memory['chunked_vs_whole_peak']:.3f}x"
        )
    click.echo(json.dumps(result))
