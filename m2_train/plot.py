"""Loss curves of one or several M2 runs, as a PNG: training loss per step (left) and held-out
bits/byte at each evaluation (right), one colour per run."""

from __future__ import annotations

import json
from collections.abc import Sequence

from compressor.io import storage
from m2_train.checkpoint import metrics_path


def read_metrics(run: str) -> list[dict]:
    return [json.loads(line) for line in storage.read_bytes(metrics_path(run)).decode().splitlines()]


def plot_runs(runs: Sequence[str], output: str, labels: Sequence[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, (train_ax, eval_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for run, label in zip(runs, labels or runs, strict=True):
        rows = read_metrics(run)
        steps = [r for r in rows if "loss" in r]
        evals = [r for r in rows if "eval_bits_per_byte" in r]
        line = train_ax.plot([r["step"] for r in steps], [r["loss"] for r in steps], label=label)[0]
        eval_ax.plot([r["step"] for r in evals], [r["eval_bits_per_byte"] for r in evals], "o-", color=line.get_color())
        if evals:
            eval_ax.axhline(evals[-1]["eval_uniform_bits_per_byte"], color=line.get_color(), ls=":", lw=1)
    train_ax.set(xlabel="step", ylabel="training loss (nats per id)", title="training")
    eval_ax.set(xlabel="step", ylabel="bits per raw byte", title="held out (dotted: uniform baseline)")
    train_ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = storage.staging_path(output)
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    storage.publish(tmp, output)
