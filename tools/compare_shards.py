"""Are two commits' shards byte-identical?  For refactors that must not change a single byte.

    .venv/bin/python tools/compare_shards.py BASE [HEAD] --input $C4 [--docs 40]

Checks out each commit (HEAD: the working tree when omitted) into a temporary worktree, builds
its C coder there, and runs that commit's own `eqinfo compress` (with this venv's packages) for
every method of the paper's table: a tiny M1 trained once (by BASE) for AC and EqualInfoAC, the
order-2 model for the candidate-span encoder, StaticAC and SentencePiece fitted on the documents
before the coded ones.  Every shard file must match byte for byte, and every manifest field
except the run's own (wall time, runner, versions).  Only the command line is used, so any two
commits that have `eqinfo compress`, `train-m1` and `train-spm` compare.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from checkouts import checkout, eqinfo, run

VOLATILE = {"wall_seconds", "started", "runner", "versions", "shards", "coded_once_for"}  # the last: output paths


def specs(fit: str, spm: str, m1: str) -> dict[str, str]:
    out = {
        "bytes": "bytes",
        "spm": f"sentencepiece:model={spm}",
        "gzip-256": "gzip:v=256",
        "gzip-65k": "gzip:v=65536",
        "static-256": f"static_ac:v=256,fit={fit}",
        "static-65k": f"static_ac:v=65536,fit={fit}",
        "ac-order2": f"ac:v=65536,model=order2,fit={fit}",
        "eq16-order2": f"equal_info_ac:b=16,v=65536,model=order2,fit={fit}",
    }
    for v in (256, 65536):
        out[f"ac-m1-{v}"] = f"ac:v={v},m1={m1}"
        for b in (16, 32, 64, 128):
            out[f"eq{b}-m1-{v}"] = f"equal_info_ac:b={b},v={v},m1={m1}"
    return out


def compress_all(tree: Path, data: dict, out: Path, log: Path) -> None:
    for name, spec in specs(data["fit"], data["spm"], data["m1"]).items():
        print(f"  {tree.name}: {name}", file=sys.stderr)
        run(eqinfo("compress", "--input", data["test"], "--output", str(out / name / "x"), "--tokenizer", spec,
                   "--seq-len", "512", "--quiet"), tree, log)  # fmt: skip


def digest(path: Path) -> str:
    if path.name.endswith(".manifest.json"):
        manifest = {k: v for k, v in json.loads(path.read_text()).items() if k not in VOLATILE}
        shards = json.loads(path.read_text())["shards"]
        manifest["shards"] = [{k: v for k, v in s.items() if k != "path"} for s in shards]
        return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): digest(p) for p in sorted(out.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("head", nargs="?", help="a commit [default: the working tree]")
    parser.add_argument("--input", required=True, help="C4 JSON lines")
    parser.add_argument("--docs", type=int, default=40, help="documents coded (after 100 fitted on)")
    parser.add_argument("--keep", help="directory to keep the shards and logs in")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="eqinfo-compare-")))
        tmp.mkdir(parents=True, exist_ok=True)
        with gzip.open(args.input, "rt", encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip()][: 100 + args.docs]
        (tmp / "fit.jsonl").write_text("".join(lines[:100]))
        (tmp / "test.jsonl").write_text("".join(lines[100:]))
        data = {"fit": str(tmp / "fit.jsonl"), "test": str(tmp / "test.jsonl"), "spm": str(tmp / "spm.model"),
                "m1": str(tmp / "m1")}  # fmt: skip
        results = {}
        for label, ref in (("base", args.base), ("head", args.head)):
            with checkout(ref, tmp) as tree:
                log = tmp / f"{label}.log"
                if label == "base":
                    run(eqinfo("train-spm", "--input", data["fit"], "--out", str(tmp / "spm"), "--vocab-size", "2000",
                               "--soft-vocab-limit"), tree, log)  # fmt: skip
                    run(eqinfo("train-m1", "--input", data["fit"], "--out", data["m1"], "--size", "tiny",
                               "--steps", "40", "--holdout", "10", "--eval-every", "40"), tree, log)  # fmt: skip
                compress_all(tree, data, tmp / label, log)
                results[label] = tree_digests(tmp / label)
        base, head = results["base"], results["head"]
        differ = sorted(k for k in base.keys() | head.keys() if base.get(k) != head.get(k))
        print(f"{len(base)} files from {args.base}, {len(head)} from {args.head or 'the working tree'}")
        for k in differ:
            print(f"DIFFERS: {k}")
        print("byte-identical" if not differ else f"{len(differ)} file(s) differ")
        sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
