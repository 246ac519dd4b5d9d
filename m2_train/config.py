"""A training run's settings and their defaults: the one place the command line and the trainer
take them from (no torch here, so the command line loads fast)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    shards: str
    out: str
    eval_shards: str | None = None
    model: str = "25m"
    steps: int = 1000
    batch: int = 128  # sequences per step, over all processes
    grad_accum: int = 1  # micro-batches per step: a rank runs batch / (processes x grad_accum) at once
    lr: float = 1e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    clip: float = 1.0
    seed: int = 0
    log_every: int = 10
    eval_every: int = 500
    save_every: int = 500
    eval_batch: int | None = None  # per process [default: the training batch's share]
    eval_records: int | None = None  # periodic evaluations score the split's first N records; the last, all
    activation_checkpointing: bool = False
    async_save: bool = True  # checkpoints written in the background (`latest` moves once one is complete)
    compile: bool = False  # torch.compile each block (GPU)
    device: str | None = None  # [default: cuda where there is one]


RESUMABLE = (
    "steps",
    "log_every",
    "eval_every",
    "save_every",
    "eval_shards",
    "eval_batch",
    "eval_records",
    "async_save",
)
