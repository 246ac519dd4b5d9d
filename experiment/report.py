"""The experiment's report: the paper's table and findings at this scale, plots, generations.

A method counts as learnable when M2 beats its uniform baseline (log2 of the vocabulary per id,
what an M2 that learned nothing scores) on held-out text, as the paper words it; the report
gives every gain, so a reader can weigh how far from zero it is at this scale.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from m2_train.model import M2Config
from m2_train.plot import plot_runs


def gain(row: dict) -> float:
    e = row["eval"]
    return (e["uniform_bits_per_byte"] - e["bits_per_byte"]) / e["uniform_bits_per_byte"]


def table_rows(rows: list[dict], m2: M2Config | None, m2_ids: int) -> list[dict]:
    out = []
    for r in rows:
        e = r["eval"]
        train_bpt = r["train"]["bytes_per_token"]
        out.append(
            {
                "method": r["method"],
                "bytes_per_token": e["bytes_per_token"],
                "bits_per_byte": e["bits_per_byte"],
                "uniform_bits_per_byte": e["uniform_bits_per_byte"],
                "gain": gain(r),
                "training_flops_per_byte": (m2.flops_per_token(training=True) / train_bpt) if m2 else None,
                "inference_flops_per_byte": e["inference_flops_per_byte"],
                "training_ids": m2_ids,
                "passes": m2_ids / r["train"]["tokens"],
            }
        )
    return out


def findings(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(finding, verdict, the figures that decide it) for each of the paper's findings."""
    by = {r["method"]: r for r in rows}
    bpb = {m: r["eval"]["bits_per_byte"] for m, r in by.items()}

    def fig(m: str) -> str:
        uniform = by[m]["eval"]["uniform_bits_per_byte"]
        return f"{m} {bpb[m]:.3f} bits/byte (uniform {uniform:.3f}, gain {gain(by[m]):+.1%})"

    out = []
    ac = [m for m in by if m.startswith("AC[")]
    if ac:
        ok = all(gain(by[m]) <= 0 for m in ac)
        out.append(
            ("(1) M2 over plain AC scores no better than its uniform baseline", _verdict(ok), "; ".join(map(fig, ac)))
        )
    eq16 = [m for m in by if m.startswith("EqualInfoAC[b=16")]
    if eq16:
        ok = all(gain(by[m]) > 0 for m in eq16)
        out.append(
            ("(2) M2 over EqualInfoAC[b=16] beats its uniform baseline", _verdict(ok), "; ".join(map(fig, eq16)))
        )
    small, large = "EqualInfoAC[b=16, v=256]", "EqualInfoAC[b=16, v=65k]"
    if small in by and large in by:
        out.append(
            (
                "(3) at b=16, v=65k does better than v=256",
                _verdict(bpb[large] < bpb[small]),
                f"{fig(large)}; {fig(small)}",
            )
        )
    gz = [m for m in by if m.startswith("GZip")]
    if gz and "Bytes" in by and "SentencePiece" in by:
        ok = all(gain(by[m]) > 0 and bpb[m] > max(bpb["Bytes"], bpb["SentencePiece"]) for m in gz)
        figures = "; ".join(map(fig, [*gz, "Bytes", "SentencePiece"]))
        out.append(("(4a) GZip is learnable but worse than Bytes and SentencePiece per byte", _verdict(ok), figures))
    for v in ("256", "65k"):
        windows = [m for m in by if m.startswith("EqualInfoAC[") and m.endswith(f"v={v}]")]
        if len(windows) > 1:
            windows.sort(key=lambda m: int(m.split("b=")[1].split(",")[0]))
            ok = all(gain(by[a]) >= gain(by[b]) for a, b in itertools.pairwise(windows))
            out.append((f"(4b) larger windows are less learnable (v={v})", _verdict(ok), "; ".join(map(fig, windows))))
    return out


def _verdict(ok: bool) -> str:
    return "reproduced" if ok else "not reproduced"


COLUMNS = (
    "method | bytes/id | M2 bits/byte | uniform | gain | training FLOPs/byte | inference FLOPs/byte | ids | passes"
)


def markdown_table(table: list[dict]) -> str:
    lines = [f"| {COLUMNS} |", "|" + " --- |" * (COLUMNS.count("|") + 1)]
    for t in table:
        cells = [
            t["method"],
            f"{t['bytes_per_token']:.3f}",
            f"{t['bits_per_byte']:.3f}",
            f"{t['uniform_bits_per_byte']:.3f}",
            f"{t['gain']:+.1%}",
            f"{t['training_flops_per_byte'] or 0:,.0f}",
            f"{t['inference_flops_per_byte']:,.0f}",
            f"{t['training_ids']:,}",
            f"{t['passes']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def generation_line(row: dict) -> str:
    s = row["sample"]
    end = "document end" if s["ended"] else "no document end"
    note = f"; {s['note']}" if s["note"] else ""
    seen = f"M2 saw {s['prompt_seen']!r}"
    return f"- **{row['method']}** ({seen}): {s['text']!r} [{s['ids_decoded']} ids decode; {end}{note}]"


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
        f"{budget['workers']} FSDP2 processes).  Wall time {info['wall']}."
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
        *[f"- **{name}**: {verdict}. {figures}." for name, verdict, figures in found],
        "",
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
        ax.scatter(t["inference_flops_per_byte"], t["bits_per_byte"])
        ax.annotate(t["method"], (t["inference_flops_per_byte"], t["bits_per_byte"]), fontsize=7)
    ax.set(xscale="log", xlabel="M2 inference FLOPs per byte", ylabel="held-out bits per byte")
    ax.set_title("bits/byte against inference FLOPs/byte, one point per method", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
