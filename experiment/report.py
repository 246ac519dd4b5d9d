"""The experiment's report: the paper's table and findings at this scale, plots, generations.

A method counts as learnable when M2 beats its uniform baseline (log2 of the vocabulary per id,
what an M2 that learned nothing scores) on held-out text, as the paper words it.  Every finding
is decided over the seeds by the rule of experiment/stats.py, so a gain within noise is called
undecided, not a result.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from experiment.stats import RULE, Estimate, combine, estimate
from m2_train.model import M2Config
from m2_train.plot import plot_positions, plot_runs, position_evals, trivial_accuracy


def gains(row: dict) -> list[float]:
    """The share of the uniform baseline M2 saves, seed by seed."""
    uniform = row["eval"]["uniform_bits_per_byte"]
    return [(uniform - s["eval"]["bits_per_byte"]) / uniform for s in row["seeds"]]


def bits(row: dict) -> list[float]:
    return [s["eval"]["bits_per_byte"] for s in row["seeds"]]


def table_rows(rows: list[dict], m2: M2Config | None, m2_ids: int) -> list[dict]:
    out = []
    for r in rows:
        e = r["eval"]
        train_bpt = r["train"]["bytes_per_token"]
        out.append(
            {
                "method": r["method"],
                "bytes_per_token": e["bytes_per_token"],
                "bits_per_byte": estimate(bits(r)),
                "uniform_bits_per_byte": e["uniform_bits_per_byte"],
                "gain": estimate(gains(r)),
                "training_flops_per_byte": (m2.flops_per_token(training=True) / train_bpt) if m2 else None,
                "inference_flops_per_byte": e["inference_flops_per_byte"],
                "training_ids": m2_ids,
                "passes": m2_ids / r["train"]["tokens"],
            }
        )
    return out


def findings(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(finding, verdict, the figures that decide it) for each of the paper's findings, each
    decided by the rule of experiment/stats.py over the seeds."""
    by = {r["method"]: r for r in rows}

    def fig(m: str) -> str:
        e, gain = by[m]["eval"], estimate(gains(by[m])).show("{:+.2%}")
        return f"{m} {e['bits_per_byte']:.3f} bits/byte (uniform {e['uniform_bits_per_byte']:.3f}), gain {gain}"

    def paired(a: str, b: str) -> Estimate:
        """bits/byte of a minus b, seed by seed: above 0 when b does better."""
        return estimate([x - y for x, y in zip(bits(by[a]), bits(by[b]), strict=True)])

    out = []
    ac = [m for m in by if m.startswith("AC[")]
    if ac:
        verdict = combine([estimate(gains(by[m])).below_or_zero() for m in ac])
        out.append(
            ("(1) M2 over plain AC scores no better than its uniform baseline", verdict, "; ".join(map(fig, ac)))
        )
    eq16 = [m for m in by if m.startswith("EqualInfoAC[b=16")]
    if eq16:
        verdict = combine([estimate(gains(by[m])).above_zero() for m in eq16])
        out.append(("(2) M2 over EqualInfoAC[b=16] beats its uniform baseline", verdict, "; ".join(map(fig, eq16))))
    small, large = "EqualInfoAC[b=16, v=256]", "EqualInfoAC[b=16, v=65k]"
    if small in by and large in by:
        d = paired(small, large)
        figures = f"{fig(large)}; {fig(small)}; paired difference {d} bits/byte"
        out.append(("(3) at b=16, v=65k does better than v=256", d.above_zero(), figures))
    gz = [m for m in by if m.startswith("GZip")]
    if gz and "Bytes" in by and "SentencePiece" in by:
        claims = [estimate(gains(by[m])).above_zero() for m in gz]
        claims += [paired(m, other).above_zero() for m in gz for other in ("Bytes", "SentencePiece")]
        figures = "; ".join(map(fig, [*gz, "Bytes", "SentencePiece"]))
        out.append(("(4a) GZip is learnable but worse than Bytes and SentencePiece per byte", combine(claims), figures))
    for v in ("256", "65k"):
        windows = [m for m in by if m.startswith("EqualInfoAC[") and m.endswith(f"v={v}]")]
        if len(windows) > 1:
            windows.sort(key=lambda m: int(m.split("b=")[1].split(",")[0]))
            claims = [
                estimate([x - y for x, y in zip(gains(by[a]), gains(by[b]), strict=True)]).above_zero()
                for a, b in itertools.pairwise(windows)
            ]
            out.append(
                (f"(4b) larger windows are less learnable (v={v})", combine(claims), "; ".join(map(fig, windows)))
            )
    return out


COLUMNS = (
    "method | bytes/id | M2 bits/byte | uniform | gain | training FLOPs/byte | inference FLOPs/byte | ids | passes"
)


def markdown_table(table: list[dict]) -> str:
    lines = [f"| {COLUMNS} |", "|" + " --- |" * (COLUMNS.count("|") + 1)]
    for t in table:
        cells = [
            t["method"],
            f"{t['bytes_per_token']:.3f}",
            spread(t["bits_per_byte"], "{:.3f}"),
            f"{t['uniform_bits_per_byte']:.3f}",
            spread(t["gain"], "{:+.1%}"),
            f"{t['training_flops_per_byte'] or 0:,.0f}",
            f"{t['inference_flops_per_byte']:,.0f}",
            f"{t['training_ids']:,}",
            f"{t['passes']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread(e: Estimate, form: str) -> str:
    """A mean with its standard deviation over the seeds (none with one seed)."""
    return form.format(e.mean) + (f" ± {form.format(e.sd).lstrip('+')}" if e.n > 1 else "")


def generation_line(row: dict) -> str:
    s = row["sample"]
    end = "document end" if s["ended"] else "no document end"
    note = f"; {s['note']}" if s["note"] else ""
    seen = f"M2 saw {s['prompt_seen']!r}"
    return f"- **{row['method']}** ({seen}): {s['text']!r} [{s['ids_decoded']} ids decode; {end}{note}]"


def stability_section(rows: list[dict]) -> list[str]:
    """The paper's token-stability figures per method, with the histograms' file names."""
    figures = [r["stability"] for r in rows if "stability" in r]
    if not figures:
        return []
    f0 = figures[0]
    head = (
        "| method | ids per sequence | mean distance | median | within 2 | distinct ids | reused in >1 document |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [
        f"| {f['method']} | {f['mean_ids']:.1f} | {f['mean_distance']:.2f} | {f['median_distance']:.1f} "
        f"| {f['within_2']:.1%} | {f['distinct_ids']:,} | {f['reused_share']:.1%} |"
        for f in figures
    ]
    return [
        "## Token stability (the paper's protocol)",
        "",
        f"{f0['words']} words drawn from the training text's most frequent, each prepended to one fixed sentence; "
        f"the Levenshtein distance between the ids of each of the {f0['pairs']:,} pairs of sequences.  Reuse: of "
        f"the distinct ids of {f0['reuse_documents']} documents of 1,024 bytes, the share that occur in more than "
        "one (the paper: 34.5% for EqualInfoAC[b=16, v=65k]).  Histograms: `stability/stability-*.png`.",
        "",
        head,
        *lines,
        "",
    ]


def position_section(out: Path, rows: list[dict], steps: int) -> list[str]:
    """Accuracy by position in the window for the methods whose windows hold several ids: the
    trivial accuracy (the best of the first tenth of training) and the last evaluation's."""
    runs = [(r["method"], r["m2"]["run"]) for r in rows if position_evals(r["m2"]["run"])]
    if not runs:
        return []
    plot_positions([run for _, run in runs], str(out / "position_accuracy.png"), [m for m, _ in runs], steps)
    lines = []
    for method, run in runs:
        evals = position_evals(run)
        trivial, last = trivial_accuracy(evals, steps), evals[-1]["eval_position_accuracy"]
        cells = ", ".join(f"{k + 1}: {t:.3f} -> {a:.3f}" for k, (t, a) in enumerate(zip(trivial, last, strict=True)))
        lines.append(f"- **{method}** ({len(evals)} evaluations): {cells}")
    return [
        "## Accuracy by position in the window",
        "",
        "M2's held-out next-id accuracy at each id position within an Equal-Info window, trivial (the best in the "
        "first tenth of training) -> at the end of training; the paper saw positions 1-3 learned first and later "
        "ones only late.  Plot: `position_accuracy.png`.",
        "",
        *lines,
        "",
    ]


def write(out: Path, rows: list[dict], budget: dict, info: dict, m2: M2Config | None) -> str:
    """Writes report.md and the two plots beside it; returns the table and verdicts as text."""
    table = table_rows(rows, m2, budget["m2_ids"])
    plot_flops(out / "bits_per_byte_vs_flops.png", table)
    if rows:
        plot_runs([r["m2"]["run"] for r in rows], str(out / "loss_curves.png"), [r["method"] for r in rows])
    markdown = markdown_table(table)
    found = findings(rows)
    setup = (
        f"Budget `{budget['name']}` on `{info['input']}`: {info['train_docs']} training documents "
        f"({info['train_bytes']:,} bytes) and {info['held_out_docs']} held-out ones "
        f"({info['held_out_bytes']:,} bytes); M1 {info['m1']}; M2 `{budget['m2_size']}` trained on "
        f"{budget['m2_ids']:,} ids per method ({budget['batch']} x {budget['seq_len']} per step, "
        f"{budget['workers']} FSDP2 processes), {budget['seeds']} seed(s) per method (another initialisation and data "
        f"order each).  Wall time {info['wall']}."
    )
    doc = [
        "# The paper in miniature",
        "",
        setup,
        "",
        "Bits/byte are M2's on the held-out text, exact from the records; the uniform baseline is what an M2 "
        "that learned nothing scores; gain is the share of it M2 saves.  FLOPs are M2's (the AC methods also run M1 "
        "to code and decode).  Passes: how many times M2 saw its training text; the sample is small, so a method "
        "whose ids hold more bytes sees its text more often.",
        "",
        markdown,
        "",
        "## The paper's findings at this scale (learnable: M2 beats its uniform baseline on held-out text)",
        "",
        f"Decided by one rule, written before the runs (experiment/stats.py): {RULE}.  Paired differences pair "
        "the methods' M2s of the same seed.",
        "",
        *[f"- **{name}**: {verdict}. {figures}." for name, verdict, figures in found],
        "",
        *stability_section(rows),
        *position_section(out, rows, rows[0]["m2"]["steps"] if rows else 0),
        "## Generations",
        "",
        *[generation_line(r) for r in rows],
        "",
        "Plots: `bits_per_byte_vs_flops.png` (one point per method, as the paper's Figure 3) and `loss_curves.png`.",
        "",
    ]
    (out / "report.md").write_text("\n".join(doc))
    return markdown + "\n\n" + "\n".join(f"{name}: {verdict}" for name, verdict, _ in found)


def plot_flops(path: Path, table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in table:
        ax.scatter(t["inference_flops_per_byte"], t["bits_per_byte"].mean)
        ax.annotate(t["method"], (t["inference_flops_per_byte"], t["bits_per_byte"].mean), fontsize=7)
    ax.set(xscale="log", xlabel="M2 inference FLOPs per byte", ylabel="held-out bits per byte")
    ax.set_title("bits/byte against inference FLOPs/byte, one point per method", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
