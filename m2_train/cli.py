"""`eqinfo train-m2`, `eval-m2`, `generate` and `plot-m2`: M2's commands (joined to `eqinfo`
through setup.py's entry points)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click

from m2_train.config import TrainConfig
from m2_train.model import SIZES

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def _without_option(argv: list[str], name: str) -> list[str]:
    """argv with `--name VALUE` / `--name=VALUE` removed."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            out.append(arg)
    return out


@click.command("train-m2")
@click.option("--shards", required=True, help="Training shard prefix (`eqinfo compress --output`), local or gs://.")
@click.option("--eval-shards", help="Held-out shard prefix: bits/byte every --eval-every steps and at the end.")
@click.option("--out", required=True, help="Run directory, local or gs://; an existing run there is resumed.")
@click.option("--model", type=click.Choice(list(SIZES)), default=TrainConfig.model, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=TrainConfig.steps, show_default=True)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=TrainConfig.batch,
    show_default=True,
    help="Sequences per step, all ranks.",
)
@click.option(
    "--grad-accum",
    type=click.IntRange(min=1),
    default=TrainConfig.grad_accum,
    show_default=True,
    help="Micro-batches per step: each rank runs batch / (ranks x N) sequences at a time, the same global batch.",
)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=TrainConfig.lr, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=TrainConfig.warmup, show_default=True)
@click.option("--min-lr-ratio", type=click.FloatRange(0, 1), default=TrainConfig.min_lr_ratio, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=TrainConfig.weight_decay, show_default=True)
@click.option("--clip", type=click.FloatRange(min=0, min_open=True), default=TrainConfig.clip, show_default=True)
@click.option("--seed", type=int, default=TrainConfig.seed, show_default=True)
@click.option("--log-every", type=click.IntRange(min=1), default=TrainConfig.log_every, show_default=True)
@click.option("--eval-every", type=click.IntRange(min=1), default=TrainConfig.eval_every, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=TrainConfig.save_every, show_default=True)
@click.option("--eval-batch", type=click.IntRange(min=1), help="Sequences per rank in evaluation.")
@click.option(
    "--eval-records",
    type=click.IntRange(min=1),
    help="Periodic evaluations score the held-out split's first N records (to a document's end); the last "
    "scores all [default: all].",
)
@click.option("--activation-checkpointing", is_flag=True, help="Recompute each block in the backward pass.")
@click.option(
    "--sync-save",
    "async_save",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Write checkpoints in the step instead of in the background.",
)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile each block (GPU).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="[default: cuda where there is one]")
@click.option(
    "--nproc-per-node",
    type=click.IntRange(min=1),
    help="Start torchrun with this many processes on this machine (m2_train/launch.sh: several machines).",
)
def train_m2(nproc_per_node, compile_, **options):
    """Train M2 on token shards with FSDP2; evaluate in bits per raw byte; resume exactly.

    Writes config.json, metrics.jsonl (step, loss, bits/byte, tokens/s, MFU, gradient norm, peak
    memory, lr; evaluations),
    checkpoints/ (torch.distributed.checkpoint) and, at the end, model.safetensors.
    """
    if nproc_per_node and not _under_torchrun():
        argv = _without_option(sys.argv[1:], "--nproc-per-node")
        command = [*TORCHRUN, "--standalone", f"--nproc-per-node={nproc_per_node}", "-m", "compressor.cli", *argv]
        sys.exit(subprocess.call(command))
    from compressor.shards.shardset import ManifestError
    from m2_train.train import train

    config = TrainConfig(compile=compile_, **options)
    try:
        result = train(config, log=lambda line: click.echo(line, err=False))
    except (ValueError, FileNotFoundError, ManifestError) as exc:
        raise click.ClickException(str(exc)) from None
    if result and int(os.environ.get("RANK", 0)) == 0:
        click.echo(json.dumps({"out": config.out, **result}))


@click.command("eval-m2")
@click.option("--run", required=True, help="Run directory of `eqinfo train-m2` (reads model.safetensors).")
@click.option("--shards", required=True, help="Shard prefix to evaluate on (same tokenizer as the run).")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]))
def eval_m2(run, shards, batch, device):
    """M2's bits per raw byte on a split, exact from the records, beside the uniform baseline."""
    import torch

    from compressor.shards.shardset import ManifestError
    from m2_train.checkpoint import load_exported
    from m2_train.data import open_split
    from m2_train.distributed import World
    from m2_train.evaluate import evaluate
    from m2_train.model import M2Config

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        model, config = load_exported(run, dev)
        split = open_split(shards)
    except (FileNotFoundError, ManifestError) as exc:
        raise click.ClickException(str(exc)) from None
    if split.manifest["tokenizer"] != config["tokenizer"]:
        raise click.UsageError(
            f"{shards} holds {split.manifest['tokenizer']}; the run was trained on {config['tokenizer']}"
        )
    result = evaluate(model, M2Config(**config["model"]), split, World(0, 1, 0, dev), batch)
    click.echo(
        f"{result['bits_per_byte']:.4f} bits/byte on {result['raw_bytes']:,} bytes ({result['ids']:,} ids, "
        f"{result['bytes_per_token']:.3f} bytes/id); uniform baseline {result['uniform_bits_per_byte']:.4f}; "
        f"{result['inference_flops_per_byte']:,.0f} inference FLOPs/byte"
    )
    click.echo(json.dumps({"run": run, "shards": shards, **result}))


@click.command("generate")
@click.option("--run", required=True, help="Run directory of `eqinfo train-m2` (reads model.safetensors).")
@click.option("--tokenizer", "spec", help="Tokenizer spec [default: the one the run was trained on].")
@click.option("--prompt", required=True, help="Text to continue.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0), default=1.0, show_default=True, help="0: greedy.")
@click.option("--top-k", type=click.IntRange(min=0), default=0, show_default=True, help="0: every id.")
@click.option("--samples", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]))
def generate(run, spec, prompt, max_new_tokens, temperature, top_k, samples, seed, device):
    """Continue a prompt with M2 and decode its ids to text (through M1 for the AC methods).

    Prints what decodes and, where the ids do not decode to the end (a sample rarely stops at a
    document's end), where and why.
    """
    import torch

    from compressor.tokenizers import parse_spec
    from m2_train.checkpoint import load_exported
    from m2_train.generate import sample

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        model, config = load_exported(run, dev)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    tokenizer = parse_spec(spec or config["tokenizer"])
    if tokenizer.vocab_size + 1 != model.cfg.vocab_size:
        raise click.UsageError(
            f"{tokenizer.spec} has {tokenizer.vocab_size} ids; the run's M2 knows {model.cfg.vocab_size - 1}"
        )
    rows = []
    for i in range(samples):
        s = sample(model, tokenizer, prompt.encode(), max_new_tokens, temperature, top_k, seed + i)
        click.echo(
            f"--- sample {i + 1}: {len(s.ids)} ids after the prompt's; M2 saw {s.prompt.decode('utf-8', 'replace')!r}"
        )
        click.echo(s.continuation.decode("utf-8", "replace"))
        end = "the document's end (EOS)" if s.decoded.ended else "no document end"
        click.echo(f"[{s.decoded.ids_used} of the ids decode; {end}{'; ' + s.decoded.note if s.decoded.note else ''}]")
        rows.append({"continuation": s.continuation.decode("utf-8", "replace"), "ids": s.ids, **vars(s.decoded)})
        rows[-1]["text"] = s.decoded.text.decode("utf-8", "replace")
    click.echo(json.dumps({"run": run, "tokenizer": tokenizer.spec, "prompt": prompt, "samples": rows}))


@click.command("plot-m2")
@click.option("--run", "runs", multiple=True, required=True, help="Run directory; repeat to compare runs.")
@click.option("--output", required=True, help="PNG file to write (local or gs://).")
def plot_m2(runs, output):
    """Plot the loss curves and held-out bits/byte of one or several M2 runs as a PNG."""
    from m2_train.plot import plot_runs

    try:
        plot_runs(runs, output)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {output}")
