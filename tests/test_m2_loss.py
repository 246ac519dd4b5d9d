"""M2's chunked loss against the plain one, and weights materialised after sharding against the
whole model's, on real torchrun processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from m2_train import loss
from m2_train.loss import IGNORE, chunked_nll, nll_sum
from m2_train.model import M2, config_for, inputs_and_targets


def plain_and_chunked(model: M2, ids: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(NLL, every gradient) of the plain loss over whole logits, and of the chunked one."""
    inputs, targets = inputs_and_targets(ids, model.cfg.pad_id)
    out = []
    for chunked in (False, True):
        model.zero_grad(set_to_none=True)
        nll = model(inputs, targets)[0] if chunked else nll_sum(model(inputs), targets)
        (nll * 0.37).backward()  # a scale, as training's mean over the real ids applies
        out.append([nll.detach(), *(p.grad for p in model.parameters())])
    return out[0], out[1]


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 9), pads=st.integers(0, 24), seed=st.integers(0, 2**16))
def test_the_chunked_loss_and_its_gradients_equal_the_plain_ones(rows, pads, seed):
    torch.manual_seed(seed)
    model = M2(config_for("tiny", 300, seq_len=24))
    ids = torch.randint(0, 300, (3, 24))
    ids[seed % 3, 24 - pads :] = model.cfg.pad_id  # a record's PAD tail: never a target
    with mock.patch.object(loss, "CHUNK_LOGITS", rows * 301):  # the vocabulary is 301 ids
        plain, chunked = plain_and_chunked(model, ids)
    for a, b in zip(plain, chunked, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)  # float32 sums in another order


@pytest.fixture
def monkeypatch_chunk(monkeypatch):
    """Sets the rows of a chunk (the vocabulary here is 301 ids)."""
    return lambda rows: monkeypatch.setattr(loss, "CHUNK_LOGITS", rows * 301)


def test_the_chunked_loss_in_bfloat16_is_as_close_to_float32_as_the_plain_one():
    """Same bf16 weights, each loss's error against the float32 gradients of those weights."""
    torch.manual_seed(0)
    half = M2(config_for("tiny", 300, seq_len=24)).to(torch.bfloat16)
    ids = torch.randint(0, 300, (4, 24))
    with mock.patch.object(loss, "CHUNK_LOGITS", 5 * 301):
        plain, chunked = plain_and_chunked(half, ids)
        truth, _ = plain_and_chunked(half.float(), ids)
    for name, a, b, t in zip(["nll", *dict(half.named_parameters())], plain, chunked, truth, strict=True):
        plain_error, chunked_error = (torch.linalg.norm(x.float() - t) for x in (a, b))
        assert chunked_error <= max(2 * plain_error, 0.01 * torch.linalg.norm(t)), name  # bf16: 2^-8 relative


def test_predictions_are_the_logits_argmax_and_need_a_pass_without_gradients(monkeypatch_chunk):
    torch.manual_seed(0)
    model = M2(config_for("tiny", 300, seq_len=24))
    inputs, targets = inputs_and_targets(torch.randint(0, 300, (2, 24)), model.cfg.pad_id)
    monkeypatch_chunk(7)
    with torch.no_grad():
        nll, guesses = model(inputs, targets, predict=True)
        assert torch.equal(guesses, model(inputs).argmax(-1))
        torch.testing.assert_close(nll, nll_sum(model(inputs), targets))
    with pytest.raises(ValueError, match="without gradients"):
        model(inputs, targets, predict=True)


def test_only_ignored_targets_cost_nothing():
    hidden = torch.randn(2, 3, 8, requires_grad=True)
    weight = torch.randn(11, 8, requires_grad=True)
    nll, _ = chunked_nll(hidden, weight, torch.full((2, 3), IGNORE))
    nll.backward()
    assert nll.item() == 0 and not hidden.grad.any() and not weight.grad.any()


SHARDED_INIT = """
import torch
from torch.distributed.tensor import DTensor
from m2_train import distributed
from m2_train.model import M2, config_for, init_weights
from m2_train.train import shard_model

world = distributed.start("cpu")
cfg = config_for("tiny", 301, seq_len=24)  # 302 embedding rows: shards of unequal size
with torch.device("meta"):
    model = M2(cfg)
shard_model(model, world)
model.to_empty(device=world.device)
init_weights(model, torch.Generator().manual_seed(7))
whole = M2(cfg, generator=torch.Generator().manual_seed(7))
for (name, p), q in zip(model.named_parameters(), whole.parameters(), strict=True):
    assert isinstance(p, DTensor), name
    assert torch.equal(p.full_tensor(), q.detach()), name
distributed.barrier()  # no rank tears gloo down while the other still reads its last shard
distributed.stop()
print("equal", flush=True)
"""


def test_weights_materialised_after_sharding_are_the_whole_models(tmp_path):
    script = tmp_path / "sharded_init.py"
    script.write_text(textwrap.dedent(SHARDED_INIT))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", str(script)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("equal") == 2  # both ranks (their lines may interleave)
