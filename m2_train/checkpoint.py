"""M2 checkpoints: torch.distributed.checkpoint for training, one safetensors file for inference.

A run directory (local or gs://) holds:

    config.json                 the model, the tokenizer spec and the training settings
    metrics.jsonl               one line per logged step and per evaluation
    checkpoints/step-00001000/  DCP shards of model and optimizer, and rank-NNNNN.json per rank
                                (step, loader position, RNG state)
    checkpoints/latest          the name of the newest complete checkpoint
    model.safetensors           consolidated weights, written at the end (inference loads only this)

Saves run in the background (`Saver`: the state is copied to CPU memory, then written while
training goes on), and `latest` is written only after every rank has finished its part, so a
crash in the middle of a save leaves the previous checkpoint in force.  DCP's metadata is
pickled: resuming reads only checkpoints this run wrote; inference and evaluation read
safetensors and JSON, never pickles.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from safetensors.torch import load_file, save_file
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from compressor.io import storage
from m2_train import distributed
from m2_train.distributed import World
from m2_train.model import M2, M2Config

CHECKPOINTS, LATEST = "checkpoints", "latest"
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.jsonl"
KEEP = 2  # complete checkpoints kept; older ones are removed once a newer one is in force


def _writer(path: str):
    if storage.is_gcs_url(path):
        from torch.distributed.checkpoint._fsspec_filesystem import FsspecWriter

        return FsspecWriter(path, **storage.fsspec_options(path))
    return dcp.FileSystemWriter(path)


def _reader(path: str):
    if storage.is_gcs_url(path):
        from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader

        return FsspecReader(path, **storage.fsspec_options(path))
    return dcp.FileSystemReader(path)


def rng_state() -> str:
    return base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii")


def set_rng_state(encoded: str) -> None:
    torch.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(encoded)), dtype=torch.uint8))


def latest(run: str) -> str | None:
    """The newest complete checkpoint's name, or None."""
    path = storage.join(run, CHECKPOINTS, LATEST)
    return storage.read_bytes(path).decode().strip() if storage.exists(path) else None


class Saver:
    """Checkpoints written in the background while training goes on (DCP's async_save: the state
    is copied to CPU memory at `start`, then written by a thread, its collectives on a gloo group
    of its own).  `latest` moves to a checkpoint only in `finish`, once every rank's write of it is
    complete, so a run killed mid-save resumes from the one before."""

    def __init__(self, run: str, world: World, background: bool = True):
        self.run, self.world, self.background = run, world, background
        self.group = torch.distributed.new_group(backend="gloo") if background and world.size > 1 else None
        self.pending: tuple[str, object] | None = None

    def start(self, step: int, model: torch.nn.Module, optimizer, extra: dict) -> str:
        self.finish()  # one save in flight at a time
        name = f"step-{step:08d}"
        path = storage.join(self.run, CHECKPOINTS, name)
        model_state, optim_state = get_state_dict(model, optimizer)
        state = {"model": model_state, "optimizer": optim_state}
        done = None  # a synchronous save is complete on return
        if self.background:
            done = dcp.async_save(state, storage_writer=_writer(path), process_group=self.group)
        else:
            dcp.save(state, storage_writer=_writer(path))
        extra = {**extra, "step": step, "world": self.world.size, "rng": rng_state()}
        storage.write_bytes(storage.join(path, f"rank-{self.world.rank:05d}.json"), json.dumps(extra).encode())
        self.pending = (name, done)
        return name

    def ready(self) -> bool:
        """Whether this rank's save in flight has finished writing (then `finish` will not wait)."""
        return self.pending is not None and (self.pending[1] is None or self.pending[1].done())

    def finish(self) -> None:
        """Waits for the save in flight on every rank, then makes it `latest` (every rank calls it)."""
        if self.pending is None:
            return
        name, done = self.pending
        self.pending = None
        if done is not None:
            done.result()
        distributed.barrier()
        if self.world.main:
            storage.write_bytes(storage.join(self.run, CHECKPOINTS, LATEST), name.encode())
            names = storage.list_names(storage.join(self.run, CHECKPOINTS))
            older = [n for n in names if n.startswith("step-") and n < name]
            for old in older[: max(0, len(older) - (KEEP - 1))]:
                storage.remove_tree(storage.join(self.run, CHECKPOINTS, old))
        distributed.barrier()


def load(run: str, name: str, model: torch.nn.Module, optimizer, world: World) -> dict:
    """Restores model, optimizer and torch's RNG in place; returns this rank's saved extras."""
    path = storage.join(run, CHECKPOINTS, name)
    extra = json.loads(storage.read_bytes(storage.join(path, f"rank-{world.rank:05d}.json")))
    if extra["world"] != world.size:
        raise ValueError(f"{path} was written by {extra['world']} processes; resume it with as many (not {world.size})")
    model_state, optim_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optim_state}
    dcp.load(state, storage_reader=_reader(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
    set_rng_state(extra["rng"])
    return extra


def export(run: str, model: torch.nn.Module, world: World) -> None:
    """Gathers the full weights on rank 0 and writes model.safetensors (every rank must call it)."""
    weights = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if world.main:
        final = storage.join(run, MODEL_FILE)
        tmp = storage.staging_path(final)
        save_file({k: v.contiguous() for k, v in weights.items()}, tmp)
        storage.publish(tmp, final)
    distributed.barrier()


def write_config(run: str, config: dict) -> None:
    storage.write_bytes(storage.join(run, CONFIG_FILE), (json.dumps(config, indent=1) + "\n").encode())


def read_config(run: str) -> dict:
    path = storage.join(run, CONFIG_FILE)
    if not storage.exists(path):
        raise FileNotFoundError(f"{path}: not an M2 run (no {CONFIG_FILE})")
    return json.loads(storage.read_bytes(path))


def load_exported(run: str, device: torch.device | str = "cpu") -> tuple[M2, dict]:
    """The trained M2 of a run directory, from its safetensors export (no pickle), and its config."""
    config = read_config(run)
    weights = storage.join(run, MODEL_FILE)
    if not storage.exists(weights):
        raise FileNotFoundError(f"{weights} missing: the run has not finished (train-m2 exports it at the end)")
    model = M2(M2Config(**config["model"]))
    model.load_state_dict(load_file(str(storage.local_copy(weights))))
    return model.to(device).eval(), config


def metrics_path(run: str) -> str:
    return storage.join(run, METRICS_FILE)


def trim_metrics(run: str, step: int) -> None:
    """Drops metric lines past `step` (a killed run logged steps its last checkpoint did not keep)."""
    path = metrics_path(run)
    if storage.exists(path):
        lines = storage.read_bytes(path).decode().splitlines()
        kept = [line for line in lines if json.loads(line)["step"] <= step]
        storage.write_bytes(path, "".join(line + "\n" for line in kept).encode())


def append_metrics(run: str, rows: list[dict]) -> None:
    """Appends JSON lines (a local run's file grows in place; a gs:// one is rewritten whole)."""
    path = metrics_path(run)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if storage.is_gcs_url(path):
        old = storage.read_bytes(path).decode() if storage.exists(path) else ""
        storage.write_bytes(path, (old + text).encode())
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
