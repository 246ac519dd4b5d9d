"""`eqinfo bench scale`: does the pipeline's memory stay bounded, and its speed steady, as the corpus grows?

Corpora of the sizes asked for are built from a sample by one rule: document i is the decimal
index i, a space, then sample document i mod n, as one C4 JSON line, until the file holds the
size (one file per corpus, so a bound that grew with a file would show).  Each is compressed by
`eqinfo compress` in its own process on DirectRunner multi_processing with 2 workers, for
tokenizers that need no M1 (the pipeline's own cost).  Reported per size: wall time, MB/s, the
manifest's `max_held_bytes` (the most any step held in one element: the pipeline's bound), and
the peak RSS of the runner process and of the largest worker process, polled from /proc.  The
DirectRunner keeps whole PCollections in its runner process, so the runner's RSS grows with the
corpus there and not on Dataflow; the workers' RSS is what a Dataflow worker would hold.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from compressor.cli.common import CORPUS
from compressor.io.corpus import read_documents

MB = 10**6
DEFAULT_SIZES = "20,200,1000"
DEFAULT_SPECS = ("bytes", "gzip:v=65536")
BEAM = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]
POLL_SECONDS = 0.2


def build_corpus(sample: list[bytes], size: int, path: Path) -> int:
    """Writes the corpus of `size` bytes of JSON lines (the rule above); returns its documents."""
    written = i = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < size:
            line = json.dumps({"text": f"{i} " + sample[i % len(sample)].decode("utf-8")}) + "\n"
            out.write(line)
            written, i = written + len(line.encode()), i + 1
    return i


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _peak_rss(pid: int) -> int:
    """VmHWM of a process, in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def compress(corpus: Path, spec: str, prefix: Path, batch_bytes: int | None) -> dict:
    """One `eqinfo compress` run, with the peak RSS of its process and of its worker processes."""
    command = [sys.executable, "-m", "compressor.cli", "compress", "--input", str(corpus), "--output", str(prefix)]
    command += ["--tokenizer", spec, "-q"] + (["--batch-bytes", str(batch_bytes)] if batch_bytes else [])
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "--", *BEAM], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runner = 0
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        runner = max(runner, _peak_rss(proc.pid))
        pending = _children(proc.pid)
        while pending:
            pid = pending.pop()
            peaks[pid] = max(peaks.get(pid, 0), _peak_rss(pid))
            pending += _children(pid)
        time.sleep(POLL_SECONDS)
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise click.ClickException(f"eqinfo compress failed on {corpus}:\n{err[-3000:]}")
    workers = max(peaks.values(), default=0)
    manifest = json.loads(Path(f"{prefix}.manifest.json").read_text())
    return {
        "seconds": round(seconds, 2),
        "max_held_bytes": manifest["max_held_bytes"],
        "held_bytes": manifest["held_bytes"],
        "runner_peak_rss": runner,
        "worker_peak_rss": workers,
        "shards": manifest["counts"]["shards"],
        "records": manifest["counts"]["records"],
    }


def run(sample: list[bytes], sizes_mb: list[int], specs: list[str], batch_bytes: int | None, keep: Path | None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="eqinfo-scale-", dir=keep) as tmp:
        for size_mb in sizes_mb:
            corpus = Path(tmp) / f"c4-{size_mb}mb.jsonl"
            docs = build_corpus(sample, size_mb * MB, corpus)
            size = corpus.stat().st_size
            for spec in specs:
                prefix = Path(tmp) / "shards" / f"{size_mb}" / spec.split(":")[0]
                result = compress(corpus, spec, prefix, batch_bytes)
                rows.append(
                    {"size_mb": size_mb, "bytes": size, "documents": docs, "tokenizer": spec, **result}
                    | {"mb_per_second": round(size / MB / result["seconds"], 2)}
                )
                for path in prefix.parent.glob(f"{prefix.name}*"):
                    path.unlink()
            corpus.unlink()
    summary = {}
    for spec in specs:
        mine = [r for r in rows if r["tokenizer"] == spec]
        small, large = mine[0], mine[-1]
        summary[spec] = {
            "held_ratio_largest_to_smallest": round(large["max_held_bytes"] / small["max_held_bytes"], 3),
            "throughput_ratio_largest_to_smallest": round(large["mb_per_second"] / small["mb_per_second"], 3),
        }
    return {"sample_documents": len(sample), "beam": BEAM, "runs": rows, "summary": summary}


def format_table(result: dict) -> str:
    head = ("MB", 6), ("seconds", 9), ("MB/s", 7), ("max held", 12), ("worker RSS", 12), ("runner RSS", 12)
    lines = [f"{'tokenizer':<14}" + "".join(f"{name:>{width}}" for name, width in head) + f"{'shards':>7}"]
    for r in result["runs"]:
        lines.append(
            f"{r['tokenizer']:<14}{r['size_mb']:>6}{r['seconds']:>9.1f}{r['mb_per_second']:>7.2f}"
            f"{r['max_held_bytes'] / MB:>10.1f}MB{r['worker_peak_rss'] / MB:>10.0f}MB"
            f"{r['runner_peak_rss'] / MB:>10.0f}MB"
            f"{r['shards']:>7}"
        )
    for spec, s in result["summary"].items():
        lines.append(
            f"{spec}: max held at the largest size {s['held_ratio_largest_to_smallest']:.3f}x the smallest's; "
            f"throughput {s['throughput_ratio_largest_to_smallest']:.3f}x"
        )
    return "\n".join(lines)


@click.command("scale")
@click.option("--input", "input_path", required=True, type=CORPUS, help="The sample the corpora are built from.")
@click.option("--sizes", default=DEFAULT_SIZES, show_default=True, help="Corpus sizes in MB, comma-separated.")
@click.option("--tokenizer", "specs", multiple=True, help=f"Specs to run [default: {', '.join(DEFAULT_SPECS)}].")
@click.option("--batch-bytes", type=click.IntRange(min=1), help="Passed to compress [default: its own].")
@click.option(
    "--keep-dir",
    "keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build the corpora [default: the system's temporary directory].",
)
def bench_scale(input_path, sizes, specs, batch_bytes, keep):
    """Compress corpora of growing size (20 MB to 1 GB by default) built from a sample by a fixed
    rule, and report per size wall time, MB/s, the pipeline's largest held element and peak RSS."""
    try:
        sizes_mb = [int(s) for s in sizes.split(",")]
    except ValueError:
        raise click.BadParameter(f"{sizes!r} is not a list of integers", param_hint="--sizes") from None
    sample = list(read_documents(input_path))
    result = run(sample, sizes_mb, list(specs or DEFAULT_SPECS), batch_bytes, keep)
    click.echo(format_table(result))
    click.echo(json.dumps(result))
