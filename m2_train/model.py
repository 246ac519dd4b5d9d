"""M2: a decoder-only transformer over any tokenizer's ids, written to be read (after nanoGPT).

Pre-LayerNorm blocks, causal self-attention through PyTorch's fused kernel, a GELU MLP, learned
positions and an output layer tied to the embedding.  The vocabulary is the tokenizer's plus PAD
(id = tokenizer vocabulary): PAD starts every sequence (so every real id is predicted from
something) and fills a short record's tail, and is never a target.

Weights are drawn per parameter from a generator of their own (`init_weights`), so a model built
on the meta device and materialised after sharding gets the same weights as one built whole, at
any world size, on any device.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.distributed.tensor import DTensor, distribute_tensor
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from m2_train.loss import IGNORE, chunked_nll


@dataclass(frozen=True)
class M2Config:
    vocab_size: int  # the tokenizer's ids plus PAD
    seq_len: int = 512
    n_layer: int = 8
    d_model: int = 512
    n_head: int = 8

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def pad_id(self) -> int:
        return self.vocab_size - 1

    def parameters_without_embeddings(self) -> int:
        """Blocks only (attention 4d^2 + MLP 8d^2, biases and norms), as model sizes are quoted."""
        d = self.d_model
        return self.n_layer * (12 * d * d + 13 * d)

    def flops_per_token(self, training: bool = False) -> float:
        """Forward (x3 with the backward pass) matmul FLOPs per token: 2 per parameter (blocks and
        the output layer) plus attention's scores and mixing over the average context of a sequence."""
        forward = 2 * (self.parameters_without_embeddings() + self.vocab_size * self.d_model)
        forward += 2 * self.n_layer * self.seq_len * self.d_model  # QK^T and AV at mean context T/2, x2
        return 3 * forward if training else forward


# Named shapes.  The paper's sizes count parameters without embeddings (12 L d^2); these shapes
# land on them.  `tiny`, `400k`, `1.6m` and `small` are for CPU runs and tests.
SIZES = {
    "tiny": dict(n_layer=2, d_model=64, n_head=4),
    "400k": dict(n_layer=4, d_model=96, n_head=4),  # with tiny and 1.6m: a CPU ladder, ~4x apart
    "1.6m": dict(n_layer=4, d_model=192, n_head=4),
    "small": dict(n_layer=4, d_model=256, n_head=4),
    "25m": dict(n_layer=8, d_model=512, n_head=8),
    "113m": dict(n_layer=16, d_model=768, n_head=12),
    "403m": dict(n_layer=32, d_model=1024, n_head=16),
    "2b": dict(n_layer=40, d_model=2048, n_head=16),
}


def config_for(size: str, tokenizer_vocab: int, seq_len: int = 512) -> M2Config:
    if size not in SIZES:
        raise ValueError(f"unknown M2 size {size!r}; choose from {', '.join(SIZES)}")
    return M2Config(vocab_size=tokenizer_vocab + 1, seq_len=seq_len, **SIZES[size])


class Block(nn.Module):
    def __init__(self, cfg: M2Config):
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor, cache: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x [B, T, d] -> [B, T, d].  With `cache` (this block's [keys, values] of the positions
        before x, or empty): x's keys and values join it, and x attends to all of them."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            if cache:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            cache[:] = [k, v]
        # one new position sees every cached one; several (a prompt) are causal among themselves
        att = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class M2(nn.Module):
    def __init__(self, cfg: M2Config, activation_checkpointing: bool = False, generator: torch.Generator | None = None):
        """Weights from `generator` (torch's global one if None); none on the meta device, where
        `init_weights` fills them once the model is sharded and materialised."""
        super().__init__()
        self.cfg, self.activation_checkpointing = cfg, activation_checkpointing
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        if not self.embed.weight.is_meta:
            init_weights(self, generator)

    def forward(
        self, ids: torch.Tensor, targets: torch.Tensor | None = None, predict: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """ids [B, T] -> logits [B, T, vocab] (the output layer is the embedding, transposed); with
        targets, the summed NLL (and with `predict` the argmax ids) without whole logits
        (m2_train/loss.py).  Both through `forward`, where FSDP2 gathers the root's weights."""
        x = self.embed(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.activation_checkpointing else block(x)
        x = self.ln_f(x)
        if targets is None:
            return F.linear(x, self.embed.weight)
        return chunked_nll(x, self.embed.weight, targets, predict)

    def extend(self, ids: torch.Tensor, cache: list[list[torch.Tensor]]) -> torch.Tensor:
        """Inference through a KV cache: ids [B, T] at the positions after the cached ones ->
        logits [B, T, vocab]; the cache (a [keys, values] per block, empty to start) grows by T.
        A prompt, then one id at a time, gives what `forward` gives on the whole sequence."""
        start = cache[0][0].shape[2] if cache and cache[0] else 0
        if start + ids.shape[1] > self.cfg.seq_len:
            raise ValueError(f"{start + ids.shape[1]} positions exceed M2's {self.cfg.seq_len}")
        x = self.embed(ids) + self.pos(torch.arange(start, start + ids.shape[1], device=ids.device))
        for block, layer in zip(self.blocks, cache, strict=True):
            x = block(x, layer)
        return F.linear(self.ln_f(x), self.embed.weight)

    def new_cache(self) -> list[list[torch.Tensor]]:
        return [[] for _ in self.blocks]


@torch.no_grad()
def init_weights(model: M2, generator: torch.Generator | None = None) -> None:
    """GPT-2's initialisation (normal weights, std 0.02, the residual writes' scaled by depth; zero
    biases, unit norms), drawn on the CPU one whole parameter at a time in a fixed order and
    copied into each parameter or, for a sharded one, into this rank's shard of it."""
    residual = {id(m) for block in model.blocks for m in (block.proj, block.out)}
    std = 0.02 / math.sqrt(2 * model.cfg.n_layer)
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, nn.LayerNorm):
                full = torch.ones(param.shape) if name == "weight" else torch.zeros(param.shape)
            elif name == "bias":
                full = torch.zeros(param.shape)
            else:
                full = torch.empty(param.shape).normal_(
                    0.0, std if id(module) in residual else 0.02, generator=generator
                )
            full = full.to(param.device, param.dtype)
            if isinstance(param, DTensor):
                full = distribute_tensor(full, param.device_mesh, param.placements, src_data_rank=None)
            param.copy_(full)


def inputs_and_targets(ids: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Records [B, T] (real ids, then PAD) -> inputs (PAD, then the ids shifted right) and targets
    (every real id; PAD positions ignored)."""
    inputs = torch.cat([torch.full_like(ids[:, :1], pad_id), ids[:, :-1]], dim=1)
    return inputs, ids.masked_fill(ids == pad_id, IGNORE)
