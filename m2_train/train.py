"""Training M2 with FSDP2: every process of a torchrun job runs `train`.

The model is sharded the torchtitan way (`fully_shard` on each block, then on the root), and
the optimizer is built after sharding, over the sharded parameters.  On GPUs: NCCL and a bf16
MixedPrecisionPolicy (float32 reductions), optionally `torch.compile` per block; on CPUs: gloo
and float32, the same code.  AdamW, gradient clipping, linear warm-up then cosine decay.

A resumed run continues exactly: model, optimizer, the data loader's position, the step and
torch's RNG come back from the checkpoint, and the batches, the schedule and every reduction
are what they would have been, so every later loss equals the uninterrupted run's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict

import torch
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from compressor.io import storage
from m2_train import checkpoint, distributed
from m2_train.config import RESUMABLE, TrainConfig
from m2_train.data import loader, open_split
from m2_train.distributed import World
from m2_train.evaluate import evaluate
from m2_train.model import M2, config_for, inputs_and_targets, nll_sum


def learning_rate(step: int, tc: TrainConfig) -> float:
    """Linear warm-up to `lr`, then cosine decay to `min_lr_ratio * lr` at `steps`."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = min(1.0, (step - tc.warmup) / max(1, tc.steps - tc.warmup))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def shard_model(model: M2, world: World) -> M2:
    """FSDP2: each block its own unit, then the root (embedding, positions, final norm)."""
    mesh = init_device_mesh(world.device.type, (world.size,))
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    options = {"mesh": mesh, "mp_policy": policy} if world.device.type == "cuda" else {"mesh": mesh}
    for block in model.blocks:
        fully_shard(block, **options)
    fully_shard(model, **options)
    return model


def optimizer_for(model: torch.nn.Module, tc: TrainConfig, fused: bool) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, 0.95), fused=fused)


def check_resumable(saved: dict, tc: TrainConfig) -> None:
    changed = [k for k, v in asdict(tc).items() if k not in RESUMABLE and saved.get(k) != v]
    if changed:
        was = ", ".join(f"{k}={saved.get(k)!r} (now {getattr(tc, k)!r})" for k in changed)
        raise ValueError(f"{tc.out} holds a run trained with {was}: resume with the same settings or another --out")


def train(tc: TrainConfig, log: Callable[[str], None] = print) -> dict:
    """Trains (or resumes) M2 in this process of the job; returns the last evaluation, if any."""
    world = distributed.start(tc.device)
    try:
        return _train(tc, world, log if world.main else (lambda line: None))
    finally:
        distributed.stop()


def _train(tc: TrainConfig, world: World, log: Callable[[str], None]) -> dict:
    if tc.batch % world.size:
        raise ValueError(f"--batch {tc.batch} is not a multiple of the {world.size} processes")
    split = open_split(tc.shards)
    eval_split = open_split(tc.eval_shards) if tc.eval_shards else None
    manifest = split.manifest
    if eval_split is not None and eval_split.manifest["tokenizer"] != manifest["tokenizer"]:
        raise ValueError(f"{tc.eval_shards} holds {eval_split.manifest['tokenizer']}, not {manifest['tokenizer']}")
    cfg = config_for(tc.model, manifest["vocab_size"], manifest["seq_len"])
    resume_from = checkpoint.latest(tc.out)
    if resume_from is not None:
        check_resumable(checkpoint.read_config(tc.out)["train"], tc)
    elif world.main:
        checkpoint.write_config(
            tc.out,
            {"model": cfg.to_dict(), "tokenizer": manifest["tokenizer"], "shards": tc.shards, "train": asdict(tc)},
        )
    torch.manual_seed(tc.seed)  # the same initial weights on every rank, before sharding
    model = M2(cfg, tc.activation_checkpointing).to(world.device)
    if tc.compile:
        for block in model.blocks:
            block.compile()
    shard_model(model, world)
    optimizer = optimizer_for(model, tc, fused=world.device.type == "cuda")
    per_rank = tc.batch // world.size
    data = iter(loader(split, per_rank, world.rank, world.size, seed=tc.seed))
    step = 0
    if resume_from is not None:
        extra = checkpoint.load(tc.out, resume_from, model, optimizer, world)
        data.set_state(extra["loader"].encode())
        step = extra["step"]
        if world.main:
            checkpoint.trim_metrics(tc.out, step)
        log(f"resumed from {storage.join(tc.out, checkpoint.CHECKPOINTS, resume_from)} at step {step}")
    log(
        f"M2 {tc.model}: {cfg.parameters_without_embeddings():,} parameters without embeddings, vocabulary "
        f"{cfg.vocab_size:,}; {world.size} process(es) on {world.device.type}; {split.records:,} records of "
        f"{cfg.seq_len} ids, {tc.batch} per step"
    )
    result: dict = {}
    window = [0.0, 0.0]  # NLL nats and real ids since the last log line
    bytes_per_id = manifest["counts"]["raw_bytes"] / manifest["counts"]["tokens"]
    started = time.perf_counter()
    model.train()
    while step < tc.steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, tc)
        batch = next(data)
        tokens = torch.from_numpy(batch["ids"]).to(world.device)
        inputs, targets = inputs_and_targets(tokens, split.pad_id)
        nll = nll_sum(model(inputs), targets)
        real = distributed.sum_all([float((targets >= 0).sum())], world.device)[0]
        (nll * world.size / real).backward()  # ranks' gradients are averaged: the global mean NLL
        torch.nn.utils.clip_grad_norm_(model.parameters(), tc.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        total_nll = distributed.sum_all([nll.item()], world.device)[0]
        window = [window[0] + total_nll, window[1] + real]
        rows = []
        if step % tc.log_every == 0 or step == tc.steps:
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "step": step,
                    "loss": window[0] / window[1],
                    # per byte at the split's mean bytes per id; evaluations count each record's bytes
                    "bits_per_byte": window[0] / window[1] / math.log(2) / bytes_per_id,
                    "tokens_per_second": window[1] / seconds,
                    "lr": learning_rate(step - 1, tc),
                }
            )
            log(
                f"step {step:>7}/{tc.steps}  loss {rows[-1]['loss']:.4f}  bits/byte {rows[-1]['bits_per_byte']:.4f}  "
                f"{rows[-1]['tokens_per_second']:,.0f} tok/s  lr {rows[-1]['lr']:.2e}"
            )
            window, started = [0.0, 0.0], time.perf_counter()
        if eval_split is not None and (step % tc.eval_every == 0 or step == tc.steps):
            result = evaluate(model, cfg, eval_split, world, tc.eval_batch or per_rank)
            rows.append({"step": step, **{f"eval_{k}": v for k, v in result.items() if k != "tokenizer"}})
            log(
                f"eval at step {step}: {result['bits_per_byte']:.4f} bits/byte "
                f"(uniform {result['uniform_bits_per_byte']:.4f}) on {result['raw_bytes']:,} bytes"
            )
        if rows and world.main:
            checkpoint.append_metrics(tc.out, rows)
        if step % tc.save_every == 0 or step == tc.steps:
            checkpoint.save(tc.out, step, model, optimizer, world, {"loader": data.get_state().decode()})
    checkpoint.export(tc.out, model, world)
    log(f"wrote {storage.join(tc.out, checkpoint.MODEL_FILE)}")
    return result
