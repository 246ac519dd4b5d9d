"""Training M2 with FSDP2: every process of a torchrun job runs `train`.

The model is built on the meta device, sharded the torchtitan way (`fully_shard` on each block,
then on the root) and only then materialised, each rank its shards; the optimizer is built after,
over the sharded parameters.  On GPUs: NCCL and a bf16 MixedPrecisionPolicy (float32
reductions), optionally `torch.compile` per block; on CPUs: gloo and float32, the same code.
AdamW, gradient clipping, linear warm-up then cosine decay.

A resumed run continues exactly: model, optimizer, the data loader's position, the step and
torch's RNG come back from the checkpoint, and the batches, the schedule and every reduction
are what they would have been, so every later loss equals the uninterrupted run's.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable
from dataclasses import asdict

import torch
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from compressor.io import storage
from compressor.models.peak import training_peak
from m2_train import checkpoint, distributed
from m2_train.config import RESUMABLE, TrainConfig
from m2_train.data import loader, open_split
from m2_train.distributed import World
from m2_train.evaluate import evaluate
from m2_train.model import M2, config_for, init_weights, inputs_and_targets


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


def train_step(
    model: M2, optimizer: torch.optim.Optimizer, micro: list[torch.Tensor], pad_id: int, world: World, clip: float
) -> dict[str, torch.Tensor]:
    """One optimizer step on this rank's micro-batches of records (on the device): the gradient
    of the mean NLL over every real id of every rank's micro-batches, clipped.  No host sync:
    the figures come back as device tensors (this rank's NLL in nats, all ranks' real ids, the
    gradient norm before clipping), read only when a log line is due."""
    real = torch.stack([(m != pad_id).sum() for m in micro]).sum().to(torch.float32)
    if torch.distributed.is_initialized():
        torch.distributed.all_reduce(real)
    nll_total = torch.zeros((), device=real.device)
    for i, tokens in enumerate(micro):
        model.set_requires_gradient_sync(i == len(micro) - 1)  # FSDP2 reduces the summed gradient once
        nll, _ = model(*inputs_and_targets(tokens, pad_id))
        (nll * world.size / real).backward()  # ranks' gradients are averaged: the global mean NLL
        nll_total += nll.detach()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"nll": nll_total, "real": real, "grad_norm": norm.full_tensor() if hasattr(norm, "full_tensor") else norm}


def peak_memory(device: torch.device) -> int:
    """Bytes: the most the device's allocator has held (CUDA), or this process's peak RSS (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
    if tc.batch % (world.size * tc.grad_accum):
        raise ValueError(
            f"--batch {tc.batch} is not a multiple of the {world.size} processes x {tc.grad_accum} micro-batches"
        )
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
    torch.manual_seed(tc.seed)
    with torch.device("meta"):  # no rank ever holds the whole model
        model = M2(cfg, tc.activation_checkpointing)
    if tc.compile:
        for block in model.blocks:
            block.compile()
    shard_model(model, world)
    model.to_empty(device=world.device)
    init_weights(model, torch.Generator().manual_seed(tc.seed))  # each rank its shards of the same weights
    optimizer = optimizer_for(model, tc, fused=world.device.type == "cuda")
    per_rank = tc.batch // world.size
    micro = per_rank // tc.grad_accum  # sequences a rank runs at once
    data = iter(loader(split, micro, world.rank, world.size, seed=tc.seed))
    step = 0
    saver = checkpoint.Saver(tc.out, world, background=tc.async_save)
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
        f"{cfg.seq_len} ids, {tc.batch} per step ({tc.grad_accum} micro-batch(es) of {micro} a rank)"
    )
    distributed.barrier()  # every rank measures its share of the machine at once
    peak, peak_what = training_peak(world.device)
    peak *= world.size
    log(f"MFU against {world.size} x {peak_what}")
    result: dict = {}
    window = torch.zeros(2, dtype=torch.float64, device=world.device)  # NLL nats, real ids since the last log
    bytes_per_id = manifest["counts"]["raw_bytes"] / manifest["counts"]["tokens"]
    started = time.perf_counter()
    model.train()
    while step < tc.steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, tc)
        batches = [torch.from_numpy(next(data)["ids"]).to(world.device) for _ in range(tc.grad_accum)]
        out = train_step(model, optimizer, batches, split.pad_id, world, tc.clip)
        step += 1
        window += torch.stack([out["nll"], out["real"]]).to(torch.float64)
        rows = []
        if step % tc.log_every == 0 or step == tc.steps:
            if torch.distributed.is_initialized():
                torch.distributed.all_reduce(window[:1])  # every rank's NLL; the ids are all ranks' already
            nll, real = window.tolist()  # the one host sync, at a log line
            seconds = time.perf_counter() - started
            rows.append(
                {
                    "step": step,
                    "loss": nll / real,
                    # per byte at the split's mean bytes per id; evaluations count each record's bytes
                    "bits_per_byte": nll / real / math.log(2) / bytes_per_id,
                    "tokens_per_second": real / seconds,
                    "lr": learning_rate(step - 1, tc),
                    "grad_norm": float(out["grad_norm"]),
                    "mfu": real / seconds * cfg.flops_per_token(training=True) / peak,
                    "peak_memory_bytes": peak_memory(world.device),
                }
            )
            r = rows[-1]
            log(
                f"step {step:>7}/{tc.steps}  loss {r['loss']:.4f}  bits/byte {r['bits_per_byte']:.4f}  "
                f"{r['tokens_per_second']:,.0f} tok/s  MFU {r['mfu']:.1%}  grad norm {r['grad_norm']:.3f}  "
                f"peak mem {r['peak_memory_bytes'] / 2**30:.2f} GiB  lr {r['lr']:.2e}"
            )
            window, started = torch.zeros_like(window), time.perf_counter()
        if eval_split is not None and (step % tc.eval_every == 0 or step == tc.steps):
            limit = None if step == tc.steps else tc.eval_records  # the whole split at the end
            result = evaluate(model, cfg, eval_split, world, tc.eval_batch or per_rank, limit)
            rows.append({"step": step, **{f"eval_{k}": v for k, v in result.items() if k != "tokenizer"}})
            log(
                f"eval at step {step}: {result['bits_per_byte']:.4f} bits/byte "
                f"(uniform {result['uniform_bits_per_byte']:.4f}) on {result['raw_bytes']:,} bytes"
            )
        if rows and world.main:
            checkpoint.append_metrics(tc.out, rows)
        if rows and saver.pending and not distributed.any_rank(not saver.ready(), world.device):
            saver.finish()  # checked at log lines only, which sync anyway: the write is done on every rank
        if step % tc.save_every == 0 or step == tc.steps:
            saver.start(step, model, optimizer, {"loader": data.get_state().decode()})
    saver.finish()
    checkpoint.export(tc.out, model, world)
    log(f"wrote {storage.join(tc.out, checkpoint.MODEL_FILE)}")
    return result
