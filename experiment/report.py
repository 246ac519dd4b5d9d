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
from m2_train.model import SIZES, M2Config
from m2_train.plot import plot_positions, plot_runs, position_evals, trivial_accuracy


def gains(row: dict) -> list[float]:
    """The share of the uniform baseline M2 saves, seed by seed."""
    uniform = row["eval"]["uniform_bits_per_byte"]
    return [(uniform - s["eval"]["bits_per_byte"]) / uniform for s in row["seeds"]]


def bits(row: dict) -> list[float]:
    return [s["eval"]["bits_per_byte"] for s in row["seeds"]]


def training_flops_per_byte(row: dict) -> float:
    """M2's training FLOPs per byte of its training text: 3x the forward pass's per id."""
    e = row["eval"]
    return 3 * e["inference_flops_per_byte"] * e["bytes_per_token"] / row["train"]["bytes_per_token"]


def table_rows(rows: list[dict], m2_ids: int) -> list[dict]:
    out = []
    for r in rows:
        e = r["eval"]
        out.append(
            {
                "method": r["method"],
                "bytes_per_token": e["bytes_per_token"],
                "bits_per_byte": estimate(bits(r)),
                "uniform_bits_per_byte": e["uniform_bits_per_byte"],
                "gain": estimate(gains(r)),
                "training_flops_per_byte": training_flops_per_byte(r),
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


def parameters(size: str) -> int:
    """An M2 size's parameters without embeddings, as the paper quotes sizes."""
    return M2Config(vocab_size=2, **SIZES[size]).parameters_without_embeddings()


def size_gains(row: dict, size: dict) -> list[float]:
    uniform = row["eval"]["uniform_bits_per_byte"]
    return [(uniform - s["eval"]["bits_per_byte"]) / uniform for s in size["seeds"]]


def ladder_findings(rows: list[dict]) -> list[tuple[str, str, str]]:
    """The paper's headline, where M2 was trained at several sizes: EqualInfoAC[b=16]'s gain grows
    from the smallest M2 to the largest (paired by seed), while AC's stays at uniform at the largest."""
    by = {r["method"]: r for r in rows if len(r.get("sizes", ())) > 1}
    eq16 = [m for m in by if m.startswith("EqualInfoAC[b=16")]
    ac = [m for m in by if m.startswith("AC[")]
    if not eq16 or not ac:
        return []
    claims, figures = [], []
    for m in eq16:
        first, last = by[m]["sizes"][0], by[m]["sizes"][-1]
        growth = estimate([b - a for a, b in zip(size_gains(by[m], first), size_gains(by[m], last), strict=True)])
        claims.append(growth.above_zero())
        figures.append(f"{m}: gain {first['size']} -> {last['size']} grows by {growth.show('{:+.2%}')}")
    for m in ac:
        last = by[m]["sizes"][-1]
        at_last = estimate(size_gains(by[m], last))
        claims.append(at_last.below_or_zero())
        figures.append(f"{m}: gain at {last['size']} {at_last.show('{:+.2%}')}")
    name = "(5) EqualInfoAC[b=16]'s gain grows with M2's size while AC's stays at uniform"
    return [(name, combine(claims), "; ".join(figures))]


def ladder_section(out: Path, rows: list[dict]) -> list[str]:
    """Bits/byte per method at every M2 size, and the plots against size and inference FLOPs."""
    ladder = [r for r in rows if len(r.get("sizes", ())) > 1]
    if not ladder:
        return []
    plot_ladder(out / "ladder.png", ladder)
    sizes = [z["size"] for z in ladder[0]["sizes"]]
    head = "| method | " + " | ".join(f"{z} ({parameters(z) / 1e6:.2f}m)" for z in sizes) + " |"
    lines = [head, "|" + " --- |" * (len(sizes) + 1)]
    for r in ladder:
        cells = []
        for z in r["sizes"]:
            b, g = estimate([s["eval"]["bits_per_byte"] for s in z["seeds"]]), estimate(size_gains(r, z))
            cells.append(f"{spread(b, '{:.3f}')} ({spread(g, '{:+.1%}')})")
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return [
        "## M2's size (the paper's Table 15 and Figure 3)",
        "",
        "Held-out bits/byte (gain over uniform) of every method at each M2 size, parameters without embeddings in "
        "brackets, mean ± sd over the seeds; every size trains on the same ids.  Plot: `ladder.png` (bits/byte "
        "against M2's parameters and against its inference FLOPs per byte).",
        "",
        *lines,
        "",
    ]


def plot_ladder(path: Path, ladder: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_size, by_flops) = plt.subplots(1, 2, figsize=(11, 4))
    for r in ladder:
        x = [parameters(z["size"]) for z in r["sizes"]]
        flops = [z["eval"]["inference_flops_per_byte"] for z in r["sizes"]]
        y = [z["eval"]["bits_per_byte"] for z in r["sizes"]]
        line = by_size.plot(x, y, "o-", label=r["method"])[0]
        by_flops.plot(flops, y, "o-", color=line.get_color())
    by_size.set(xscale="log", xlabel="M2 parameters (without embeddings)", ylabel="held-out bits per byte")
    by_flops.set(xscale="log", xlabel="M2 inference FLOPs per byte", ylabel="held-out bits per byte")
    by_size.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
            f"{t['training_flops_per_byte']:,.0f}",
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


def write(out: Path, rows: list[dict], budget: dict, info: dict) -> str:
    """Writes report.md and its plots beside it; returns the table and verdicts as text."""
    table = table_rows(rows, budget["m2_ids"])
    plot_flops(out / "bits_per_byte_vs_flops.png", table)
    if rows:
        plot_runs([r["m2"]["run"] for r in rows], str(out / "loss_curves.png"), [r["method"] for r in rows])
    markdown = markdown_table(table)
    found = findings(rows) + ladder_findings(rows)
    setup = (
        f"Budget `{budget['name']}` on `{info['input']}`: {info['train_docs']} training documents "
        f"({info['train_bytes']:,} bytes) and {info['held_out_docs']} held-out ones "
        f"({info['held_out_bytes']:,} bytes); M1 {info['m1']}; M2 `{budget['m2_sizes'][-1]}` trained on "
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
        *ladder_section(out, rows),
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
