"""M2 in bits per raw byte: the one figure that compares every tokenization on the same footing.

bits/byte = (total NLL of every real id of a split, in bits) / (raw bytes of the documents the
split's records cover).  Both come from the records themselves: the real ids are the non-PAD
ones, the raw bytes each record's documents, so nothing is estimated.  Beside it: the uniform
baseline of the same tokenization (log2 of the vocabulary per id: an M2 that learned nothing)
and the model's inference FLOPs per byte.  Where a window holds several ids (EqualInfoAC with b a
multiple of the id's bits), also next-id accuracy by position within the window: records are cut
on whole windows, so record offset t sits at position t mod (ids per window).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from compressor.tokenizers.spec import VOCABS, Spec
from m2_train import distributed
from m2_train.data import Split, every_record
from m2_train.distributed import World
from m2_train.loss import IGNORE
from m2_train.model import M2Config, inputs_and_targets


def window_ids(tokenizer: str) -> int:
    """Ids per Equal-Info window where a window is a whole number of ids (several: 2 or more),
    else 1: the positions that accuracy by window position tells apart."""
    spec = Spec.parse(tokenizer)
    if spec.method != "equal_info_ac":
        return 1
    bits, id_bits = int(spec.get("b")), VOCABS[int(spec.get("v"))]
    return bits // id_bits if bits % id_bits == 0 else 1


def position_hits(guesses: torch.Tensor, targets: torch.Tensor, positions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Correct next-id guesses (the argmax ids) and real targets, per position t mod `positions`."""
    where = torch.arange(targets.shape[1], device=targets.device).remainder(positions).expand_as(targets)
    real = targets != IGNORE
    right = (guesses == targets) & real
    seen = torch.zeros(positions, dtype=torch.float64, device=targets.device)
    return seen.index_add(0, where[right], right[right].double()), seen.index_add(0, where[real], real[real].double())


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, cfg: M2Config, split: Split, world: World, batch: int, limit: int | None = None
) -> dict:
    """Every record of the split (or of its first `limit`) once, each rank its share (in lockstep:
    a rank out of records runs all-PAD batches, since a sharded model's forward needs every rank)."""
    was_training = model.training
    model.eval()
    it = every_record(split, batch, world.rank, world.size, limit)
    nll = ids = raw = 0.0
    positions = window_ids(split.manifest["tokenizer"])
    hits = torch.zeros(positions, dtype=torch.float64, device=world.device)
    seen = torch.zeros_like(hits)
    while True:
        item = next(it, None)
        if not distributed.any_rank(item is not None, world.device):
            break
        if item is None:
            item = {"ids": np.full((1, split.seq_len), split.pad_id, np.int64), "raw_bytes": np.zeros(1, np.int64)}
        tokens = torch.from_numpy(item["ids"]).to(world.device)
        inputs, targets = inputs_and_targets(tokens, split.pad_id)
        loss, guesses = model(inputs, targets, predict=positions > 1)
        nll += loss.item()
        if positions > 1:
            h, n = position_hits(guesses, targets, positions)
            hits, seen = hits + h, seen + n
        ids += int((tokens != split.pad_id).sum())
        raw += int(item["raw_bytes"].sum())
    nll, ids, raw, *counts = distributed.sum_all([nll, ids, raw, *hits.tolist(), *seen.tolist()], world.device)
    model.train(was_training)
    result = summary(nll, int(ids), int(raw), cfg, split.manifest)
    if positions > 1:  # position 1 is a window's first id
        result["position_accuracy"] = [
            h / max(n, 1) for h, n in zip(counts[:positions], counts[positions:], strict=True)
        ]
    return result


def summary(nll_nats: float, ids: int, raw_bytes: int, cfg: M2Config, manifest: dict) -> dict:
    vocab = cfg.vocab_size - 1  # the tokenizer's ids; PAD is never a target
    bits = nll_nats / math.log(2)
    bytes_per_token = raw_bytes / ids
    return {
        "bits_per_byte": bits / raw_bytes,
        "bits_per_token": bits / ids,
        "uniform_bits_per_byte": math.log2(vocab) / bytes_per_token,
        "bytes_per_token": bytes_per_token,
        "ids": ids,
        "raw_bytes": raw_bytes,
        "inference_flops_per_byte": cfg.flops_per_token() / bytes_per_token,
        "tokenizer": manifest["tokenizer"],
    }
