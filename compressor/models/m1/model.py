"""M1, a decoder-only byte transformer (the paper's: 3 layers, d_model 256, 4 heads, MLP 1024, ReLU).

Input tokens are the 256 byte values plus BOS, which marks the start of the visible context (a
document, a window, any fresh segment); outputs are the 256 bytes plus EOS.  Positions are ALiBi
biases (linear in distance, per head), so the model works past its training length and its
positions need no trigonometry, which keeps the integer inference path simple.  This float model
is for training only; coding uses the integer twin built from it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

BOS = 256  # input token: start of the visible context
INPUT_VOCAB = 257  # bytes + BOS
OUTPUT_VOCAB = 257  # bytes + EOS


@dataclass(frozen=True)
class M1Config:
    n_layer: int = 3
    d_model: int = 256
    n_head: int = 4
    d_mlp: int = 1024

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if min(self.n_layer, self.d_model, self.n_head, self.d_mlp) < 1:
            raise ValueError("every M1 dimension must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


# Named shapes: the paper's M1, and one that trains in seconds for tests and quick demos.
SIZES = {"paper": M1Config(), "tiny": M1Config(n_layer=1, d_model=32, n_head=2, d_mlp=64)}


def init_gpt2(module: nn.Module) -> None:
    """GPT-2's initialisation (normal, std 0.02; zero biases), for `Module.apply`."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """Per-head distance penalties 2^(-8 i / n), i = 1..n (Press et al.)."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / n_head) for i in range(n_head)])


def alibi_bias(n_head: int, length: int) -> torch.Tensor:
    """[n_head, T, T] additive attention bias: -slope * distance, -inf above the diagonal."""
    pos = torch.arange(length)
    dist = (pos[:, None] - pos[None, :]).float()
    bias = -alibi_slopes(n_head)[:, None, None] * dist
    return bias.masked_fill(dist < 0, float("-inf"))


class Block(nn.Module):
    def __init__(self, cfg: M1Config, dropout: float):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.out = nn.Linear(cfg.d_mlp, cfg.d_model)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + F.dropout(self.proj(att.transpose(1, 2).reshape(b, t, d)), self.dropout, self.training)
        return x + F.dropout(self.out(F.relu(self.fc(self.ln2(x)))), self.dropout, self.training)


class M1(nn.Module):
    """`dropout` (on residual writes and embeddings) acts in training mode only: the C4 text
    available for training is small enough that M1 otherwise memorises it.  Attention weights
    get none, since that would cost the fused CPU attention kernel."""

    def __init__(self, cfg: M1Config, dropout: float = 0.0):
        super().__init__()
        self.cfg = cfg
        self.dropout = dropout
        self.embed = nn.Embedding(INPUT_VOCAB, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, dropout) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, OUTPUT_VOCAB)
        self.apply(init_gpt2)
        for block in self.blocks:  # GPT-2 style: scale residual writes by depth
            for lin in (block.proj, block.out):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] (BOS first) -> logits [B, T, 257]: position j predicts the symbol after tokens[:, :j+1]."""
        x = F.dropout(self.embed(tokens), self.dropout, self.training)
        bias = alibi_bias(self.cfg.n_head, tokens.shape[1]).to(x.dtype)
        if tokens.shape[1] >= 128:  # a 4-D mask takes the fused CPU attention kernel: faster on long rows only
            bias = bias[None]
        for block in self.blocks:
            x = block(x, bias)
        return self.head(self.ln_f(x))

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
