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


def position_evals(run: str) -> list[dict]:
    """The evaluations of a run that record accuracy by window position (step, accuracies)."""
    return [r for r in read_metrics(run) if "eval_position_accuracy" in r]


def trivial_accuracy(evals: list[dict], steps: int) -> list[float]:
    """Per position, the best accuracy of the evaluations in the first tenth of training (the
    first evaluation where none falls there): what the paper calls trivial accuracy."""
    early = [r for r in evals if r["step"] <= steps / 10] or evals[:1]
    return [max(col) for col in zip(*(r["eval_position_accuracy"] for r in early), strict=True)]


def plot_positions(runs: Sequence[str], output: str, labels: Sequence[str], steps: int) -> None:
    """Next-id accuracy by position in the window over training, one panel per run; dotted:
    each position's trivial accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.5 * len(runs), 3.6), squeeze=False)
    for ax, run, label in zip(axes[0], runs, labels, strict=True):
        evals = position_evals(run)
        trivial = trivial_accuracy(evals, steps)
        for k, base in enumerate(trivial):
            accuracy = [r["eval_position_accuracy"][k] for r in evals]
            line = ax.plot([r["step"] for r in evals], accuracy, label=f"{k + 1}")[0]
            ax.axhline(base, color=line.get_color(), ls=":", lw=1)
        ax.set(xlabel="step", ylabel="held-out next-id accuracy", title=label)
        ax.legend(title="position", fontsize=6, ncol=2)
    fig.tight_layout()
    tmp = storage.staging_path(output)
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    storage.publish(tmp, output)
