"""M2's loss over the tied output layer, a chunk of positions at a time: the logits of a 65k
vocabulary are never whole.

Plain cross-entropy holds float32 logits for every position of the batch (16 x 512 x 65,537 is
2 GiB), and autograd keeps their softmax for the backward pass.  Here each chunk's logits are
made, reduced to its NLL and, when training, to its share of the gradients at once, then freed:
the forward pass returns the summed NLL and keeps the gradients of the hidden states and the
output weight (their sizes are the inputs'), which the backward pass only scales.  The same
three GEMMs run as in the plain loss, so nothing is recomputed.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

IGNORE = -100  # target of PAD positions
CHUNK_LOGITS = 2**24  # logits (64 MiB in float32) a chunk holds at once


def rows_per_chunk(vocab: int) -> int:
    return max(1, CHUNK_LOGITS // vocab)


def _scan(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, grads: bool, predict: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """hidden [N, d], weight [V, d], targets [N] -> the NLL sum (float32) and, as asked, the
    gradients of that sum w.r.t. hidden and weight, and each position's argmax id."""
    nll = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_hidden = torch.empty_like(hidden) if grads else None
    grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if grads else None
    guesses = torch.empty(targets.shape, dtype=torch.long, device=targets.device) if predict else None
    step = rows_per_chunk(weight.shape[0])
    for start in range(0, hidden.shape[0], step):
        h, t = hidden[start : start + step], targets[start : start + step]
        logits = F.linear(h, weight).float()  # what the plain loss sees: the output layer's dtype, then float32
        real = t != IGNORE
        picked = t.clamp(min=0)
        log_z = torch.logsumexp(logits, dim=1)
        nll += ((log_z - logits.gather(1, picked[:, None])[:, 0]) * real).sum()
        if predict:
            guesses[start : start + step] = logits.argmax(1)
        if grads:
            g = logits.sub_(log_z[:, None]).exp_()  # softmax, in place of the logits
            g.scatter_add_(1, picked[:, None], -real[:, None].to(g.dtype))
            g.mul_(real[:, None])
            grad_hidden[start : start + step] = g.to(hidden.dtype) @ weight
            grad_weight.addmm_(g.t(), h.float())  # summed over chunks in float32
    return nll, grad_hidden, grad_weight, guesses


class _ChunkedNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        nll, grad_hidden, grad_weight, _ = _scan(hidden, weight, targets, grads=True, predict=False)
        ctx.save_for_backward(grad_hidden, grad_weight.to(weight.dtype))
        return nll

    @staticmethod
    def backward(ctx, grad_nll: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_nll.to(grad_hidden.dtype), grad_weight * grad_nll.to(grad_weight.dtype), None


def chunked_nll(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, predict: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The summed NLL in nats (float32) of targets [B, T] under logits hidden [B, T, d] @ weight.T,
    differentiable; with `predict` (no gradients), also each position's argmax id [B, T]."""
    flat_hidden, flat_targets = hidden.flatten(0, 1), targets.flatten()
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        if predict:
            raise ValueError("predictions come only from a pass without gradients")
        return _ChunkedNLL.apply(flat_hidden, weight, flat_targets), None
    nll, _, _, guesses = _scan(flat_hidden, weight, flat_targets, grads=False, predict=predict)
    return nll, guesses.view_as(targets) if predict else None


def nll_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The plain loss over whole logits [B, T, V]: the reference the chunked one is held to."""
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum")
