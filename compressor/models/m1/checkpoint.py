"""M1 checkpoints: safetensors weights plus JSON, so loading never unpickles anything.

A checkpoint directory holds `model.safetensors` and `config.json` (all inference needs: the
weights' moving average where training keeps one) and, for resuming, `optimizer.safetensors`
(AdamW moments, torch's RNG for dropout, the trained weights behind an average) and
`train_state.json` (step, sampler state, history).
Files are written under temporary names and renamed, so a killed run leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from compressor.models.m1.model import M1, M1Config

MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"
OPTIM_FILE, STATE_FILE = "optimizer.safetensors", "train_state.json"
RNG_TENSOR, TRAINED_PREFIX = "torch_rng", "trained."


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _weights(model: M1) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}


def save(
    out: Path,
    model: M1,
    optimizer: torch.optim.Optimizer | None = None,
    state: dict | None = None,
    average: M1 | None = None,
) -> None:
    """Writes `average` (else `model`) as the inference weights; with `optimizer`, what resuming needs."""
    out.mkdir(parents=True, exist_ok=True)
    weights = _weights(average if average is not None else model)
    _atomic(out / MODEL_FILE, lambda p: save_file(weights, str(p)))
    _atomic(out / CONFIG_FILE, lambda p: p.write_text(json.dumps({"m1": model.cfg.to_dict()}, indent=1)))
    if optimizer is not None:
        tensors, meta = {}, []
        for i, (param_id, st) in enumerate(optimizer.state_dict()["state"].items()):
            meta.append({"param": param_id, "step": float(st["step"])})
            tensors[f"{i}.exp_avg"] = st["exp_avg"].contiguous()
            tensors[f"{i}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
        tensors[RNG_TENSOR] = torch.get_rng_state()  # dropout's masks continue as if never stopped
        if average is not None:
            tensors.update({TRAINED_PREFIX + k: v for k, v in _weights(model).items()})
        _atomic(out / OPTIM_FILE, lambda p: save_file(tensors, str(p)))
        state = {**(state or {}), "optimizer": meta}
    if state is not None:
        _atomic(out / STATE_FILE, lambda p: p.write_text(json.dumps(state, indent=1)))


def read_config(path: Path) -> M1Config:
    """The architecture a checkpoint directory holds (config.json)."""
    return M1Config(**json.loads((path / CONFIG_FILE).read_text())["m1"])


def load_model(path: str | Path) -> M1:
    """The float M1 of a checkpoint directory (weights only; no pickle)."""
    path = Path(path)
    if not (path / MODEL_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path}: not an M1 checkpoint (needs {MODEL_FILE} and {CONFIG_FILE})")
    model = M1(read_config(path))
    model.load_state_dict(load_file(str(path / MODEL_FILE)))
    return model.eval()


def load_training(path: Path, model: M1, optimizer: torch.optim.Optimizer, average: M1 | None = None) -> dict:
    """Restores model, average, optimizer and torch's RNG in place; returns the saved training state."""
    state = json.loads((path / STATE_FILE).read_text())
    tensors = load_file(str(path / OPTIM_FILE))
    if average is not None:
        average.load_state_dict(load_file(str(path / MODEL_FILE)))
        n = len(TRAINED_PREFIX)
        model.load_state_dict({k[n:]: v for k, v in tensors.items() if k.startswith(TRAINED_PREFIX)})
    else:
        model.load_state_dict(load_file(str(path / MODEL_FILE)))
    opt = optimizer.state_dict()
    opt["state"] = {
        m["param"]: {
            "step": torch.tensor(m["step"]),
            "exp_avg": tensors[f"{i}.exp_avg"],
            "exp_avg_sq": tensors[f"{i}.exp_avg_sq"],
        }
        for i, m in enumerate(state["optimizer"])
    }
    optimizer.load_state_dict(opt)
    if RNG_TENSOR in tensors:
        torch.set_rng_state(tensors[RNG_TENSOR])
    return state
