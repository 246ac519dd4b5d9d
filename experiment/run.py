"""The experiment's stages, in order: split the text, M1, SentencePiece, then per method:
compress (Beam), train M2 (torchrun, FSDP2), evaluate, generate; then the report."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from compressor.io.corpus import file_version, read_documents, write_documents
from compressor.tokenizers.paper import method_label, method_slug
from compressor.tokenizers.spec import Spec
from experiment.budgets import Budget
from experiment.stages import Stages, fingerprint
from m2_train.evaluate import window_ids

PROMPT = "The best way to"
STEPS_PER_MINUTE = {"paper": 90, "tiny": 3000}  # M1 steps a minute on 2 cores
BITSTREAM_METHODS = ("ac", "static_ac", "equal_info_ac")  # their token sizes cut the same bits


@dataclass(frozen=True)
class Method:
    template: str

    @property
    def label(self) -> str:
        return method_label(self.template)

    @property
    def slug(self) -> str:
        return method_slug(self.template)


def same_bits(a: str, b: str) -> bool:
    """Whether two specs code the same bitstreams: one bitstream method, the same options but v."""
    sa, sb = Spec.parse(a), Spec.parse(b)
    if sa.method not in BITSTREAM_METHODS:
        return a == b
    return sa.method == sb.method and sa.with_options(v=256) == sb.with_options(v=256)


def train_m1(
    docs: list[bytes], held_out: list[bytes], out: Path, size: str, minutes: float, log: Callable[[str], None]
) -> None:
    """M1 within a time budget (the schedule sized to end near it), then its integer twin."""
    from compressor.models.m1.bytemodel import calibrate
    from compressor.models.m1.model import SIZES
    from compressor.models.m1.train import TrainConfig, train

    steps = max(20, int(minutes * STEPS_PER_MINUTE[size]))
    config = TrainConfig(steps=steps, minutes=minutes, eval_every=max(10, steps // 4))
    train(docs, held_out[:8], out, SIZES[size], config, resume=True, log=lambda line: log(f"    {line}"))
    path = calibrate(out, docs[:64])
    log(f"    wrote {path} (calibrated on {min(64, len(docs))} documents)")


def mean_eval(evals: list[dict]) -> dict:
    """One method's evaluation over its seeds: the mean bits/byte, and the figures every seed
    shares (the ids, the bytes, the uniform baseline)."""
    mean = statistics.fmean(e["bits_per_byte"] for e in evals)
    out = {**evals[0], "bits_per_byte": mean, "bits_per_token": mean * evals[0]["bytes_per_token"]}
    if "position_accuracy" in out:
        columns = zip(*(e["position_accuracy"] for e in evals), strict=True)
        out["position_accuracy"] = [statistics.fmean(col) for col in columns]
    return out


class Experiment:
    def __init__(self, input_path: str, out: Path, budget: Budget, m1: str | None, log: Callable[[str], None]):
        self.input, self.out, self.budget, self.m1, self.log = input_path, out, budget, m1, log
        self.stages = Stages(out, log)

    # -- shared inputs ------------------------------------------------------------------------

    def split(self) -> dict:
        b = self.budget
        key = fingerprint(file_version(self.input), b.train_docs, b.held_out_docs)

        def work() -> dict:
            docs = list(read_documents(self.input))
            if len(docs) < 2:
                raise ValueError(f"{self.input} holds {len(docs)} document(s); an experiment needs two at least")
            held_n = min(b.held_out_docs, max(1, len(docs) // 5))  # a shorter text keeps a fifth held out
            train, held = docs[: min(b.train_docs, len(docs) - held_n)], docs[len(docs) - held_n :]
            write_documents(self.out / "data" / "train.jsonl", train)
            write_documents(self.out / "data" / "held-out.jsonl", held)
            return {
                "train_docs": len(train),
                "held_out_docs": len(held),
                "train_bytes": sum(map(len, train)),
                "held_out_bytes": sum(map(len, held)),
            }

        result = self.stages.run("split", key, work)
        self.log(f"split: {result['train_docs']} training and {result['held_out_docs']} held-out documents")
        return {"key": key, **result}

    def train_m1(self, split: dict) -> dict:
        from compressor.io import storage
        from compressor.models.m1.bytemodel import INTEGER_FILE

        if self.m1:
            self.log(f"M1: {self.m1} (given)")
            return {"path": self.m1, "key": storage.sha256(storage.join(self.m1, INTEGER_FILE))}
        b = self.budget
        key = fingerprint(split["key"], b.m1_size, b.m1_minutes)

        def work() -> dict:
            docs = list(read_documents(self.out / "data" / "train.jsonl"))
            held = list(read_documents(self.out / "data" / "held-out.jsonl"))
            started = time.perf_counter()
            train_m1(docs, held, self.out / "m1", b.m1_size, b.m1_minutes, self.log)
            return {"seconds": round(time.perf_counter() - started, 1)}

        self.log(f"M1: {b.m1_size}, {b.m1_minutes} minutes on the training text")
        self.stages.run("m1", key, work)
        return {"path": str(self.out / "m1"), "key": key}

    def train_spm(self, split: dict) -> dict:
        key = fingerprint(split["key"], self.budget.spm_vocab)

        def work() -> dict:
            from compressor.tokenizers.spm import SentencePiece, train_sentencepiece

            docs = list(read_documents(self.out / "data" / "train.jsonl"))
            path = train_sentencepiece(docs, self.out / "spm" / "spm", self.budget.spm_vocab, hard_vocab_limit=False)
            return {"path": str(path), "vocab_size": SentencePiece(path).vocab_size}

        self.log("SentencePiece on the training text")
        return {"key": key, **self.stages.run("spm", key, work)}

    # -- per method ---------------------------------------------------------------------------

    def compress(self, method: Method, spec: str, part: str, key: str, family: list[tuple[Method, str]]) -> dict:
        """One pipeline run for the method and every other of its family (the same spec at
        another vocabulary, `family`): the bits are coded once and cut for each."""
        from compressor.shards.records import VERSION as RECORD_LAYOUT
        from compressor.shards.shardset import read_manifest
        from pipelines.compress import run
        from pipelines.config import Config

        b = self.budget
        source = self.out / "data" / f"{part}.jsonl"
        prefixes = {m.slug: str(self.out / "shards" / m.slug / part) for m, _ in family}

        def work() -> dict:
            size = source.stat().st_size
            names = " and ".join(m.label for m, _ in family)
            self.log(
                f"  compress {part} for {names}: {size:,} bytes of JSON lines, Beam DirectRunner, {b.workers} workers"
            )
            started = time.perf_counter()
            beam = ["--direct_num_workers", str(b.workers), "--direct_running_mode", "multi_processing"]
            batch = size // b.workers + 1  # a batch per worker process
            (first, first_spec), *others = family
            also = [(int(Spec.parse(s).get("v")), prefixes[m.slug]) for m, s in others]
            config = Config([str(source)], prefixes[first.slug], first_spec, seq_len=b.seq_len, batch_bytes=batch)
            config.also = also
            run(config, beam)
            seconds = round(time.perf_counter() - started, 1)
            out = {}
            for m, _ in family:
                manifest = read_manifest(prefixes[m.slug])
                c = manifest["counts"]
                self.log(f"    {m.label}: {c['tokens']:,} ids, {manifest['bytes_per_token']:.3f} bytes/id, {seconds} s")
                out[m.slug] = {
                    "prefix": prefixes[m.slug],
                    "bytes_per_token": manifest["bytes_per_token"],
                    "tokens": c["tokens"],
                }
            return out

        slugs = "+".join(m.slug for m, _ in family)
        specs = [s for _, s in family]
        done = self.stages.run(
            f"compress/{slugs}/{part}", fingerprint(key, specs, part, b.seq_len, RECORD_LAYOUT), work
        )
        return done[method.slug]

    def train_m2(self, method: Method, spec: str, train: dict, held: dict, key: str, size: str, seed: int) -> dict:
        """One M2 of `size` on the method's ids; `seed` sets its initial weights and its data order."""
        b = self.budget
        name = f"{method.slug}/{size}/seed-{seed}"
        run_dir = self.out / "m2" / name
        steps = b.steps()
        evals = 20 if window_ids(spec) > 1 else 4  # several ids a window: accuracy by position over training

        def work() -> dict:
            command = [sys.executable, "-m", "compressor.cli", "train-m2", "--shards", train["prefix"]]
            command += ["--eval-shards", held["prefix"], "--out", str(run_dir), "--model", size]
            command += [
                "--steps",
                str(steps),
                "--batch",
                str(b.batch),
                "--lr",
                "2e-3",
                "--warmup",
                str(max(1, steps // 10)),
                "--seed",
                str(seed),
            ]
            command += ["--log-every", str(max(1, steps // 10)), "--eval-every", str(max(1, steps // evals))]
            command += ["--save-every", str(steps), "--nproc-per-node", str(b.workers)]
            started = time.perf_counter()
            with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
                lines = []
                for line in proc.stdout:
                    lines.append(line)
                    if line.startswith(("step", "eval", "M2 ")):
                        self.log(f"    {line.rstrip()}")
            if proc.returncode:
                raise RuntimeError(f"train-m2 for {method.label} failed:\n{''.join(lines[-30:])}")
            return {"run": str(run_dir), "steps": steps, "seconds": round(time.perf_counter() - started, 1)}

        self.log(f"  M2 ({size}) on {method.label}, seed {seed}: {steps} steps of {b.batch} x {b.seq_len} ids")
        done = fingerprint(key, size, b.m2_ids, b.batch, b.workers, evals, seed)
        return self.stages.run(f"m2/{name}", done, work)

    def evaluate(self, method: Method, m2: dict, held: dict, key: str, size: str, seed: int) -> dict:
        def work() -> dict:
            from m2_train.checkpoint import load_exported
            from m2_train.data import open_split
            from m2_train.distributed import World
            from m2_train.evaluate import evaluate
            from m2_train.model import M2Config

            model, config = load_exported(m2["run"])
            cfg = M2Config(**config["model"])
            return evaluate(model, cfg, open_split(held["prefix"]), World(0, 1, 0, torch.device("cpu")), 16)

        return self.stages.run(f"eval/{method.slug}/{size}/seed-{seed}", fingerprint(key, size, seed), work)

    def train_size(self, method: Method, spec: str, train: dict, held: dict, key: str, size: str) -> dict:
        """Every seed's M2 of one size on the method's ids (the same ids at every size and seed:
        another initialisation and data order each), evaluated."""
        b, seeds = self.budget, []
        for seed in range(b.seeds):
            m2 = self.train_m2(method, spec, train, held, fingerprint(key, spec), size, seed)
            done = fingerprint(key, spec, m2["steps"], size, b.m2_ids)
            seeds.append({"seed": seed, "m2": m2, "eval": self.evaluate(method, m2, held, done, size, seed)})
        return {"size": size, "seeds": seeds, "eval": mean_eval([s["eval"] for s in seeds]), "key": done}

    def generate(self, method: Method, spec: str, m2: dict, key: str) -> dict:
        def work() -> dict:
            from compressor.tokenizers import parse_spec
            from m2_train.checkpoint import load_exported
            from m2_train.generate import sample

            model, _ = load_exported(m2["run"])
            s = sample(model, parse_spec(spec), PROMPT.encode(), self.budget.generate_ids, 0.8, 40, seed=0)
            text = s.continuation.decode("utf-8", "replace")
            return {
                "prompt_seen": s.prompt.decode("utf-8", "replace"),
                "text": text,
                "ended": s.decoded.ended,
                "note": s.decoded.note,
                "ids_decoded": s.decoded.ids_used,
                "ids": len(s.ids),
            }

        return self.stages.run(f"generate/{method.slug}", fingerprint(key, PROMPT), work)

    def stability(self, specs: dict[str, str], key: str) -> list[dict]:
        """The paper's token-stability figures for every method: words from the training text,
        the reuse documents from the held-out text (then the training text, where it is short)."""
        from compressor.analysis import stability as st

        def work() -> dict:
            train = list(read_documents(self.out / "data" / "train.jsonl"))
            held = list(read_documents(self.out / "data" / "held-out.jsonl"))
            listed = st.frequent_words(train)
            words = st.draw_words(listed, min(st.WORDS, len(listed)))
            docs = st.reuse_documents([*held, *train])
            self.log(f"token stability: {len(words)} words + a fixed sentence, {len(docs)} reuse documents")
            rows = st.analyze(list(specs.items()), words, docs, self.out / "stability")
            return {"rows": rows}

        return self.stages.run("stability", fingerprint(key, specs, st.SENTENCE, st.WORDS, st.SEED), work)["rows"]

    # -- all of it ----------------------------------------------------------------------------

    def run(self) -> list[dict]:
        b = self.budget
        started = time.perf_counter()
        split = self.split()
        needs = " ".join(b.methods)
        m1 = self.train_m1(split) if "{m1}" in needs else {"path": None, "key": None}
        spm = self.train_spm(split) if "{spm}" in needs else {"path": None, "key": None}
        rows = []
        specs = {
            template: template.format(m1=m1["path"], spm=spm["path"], fit=self.out / "data" / "train.jsonl")
            for template in b.methods
        }
        for template in b.methods:
            method, spec = Method(template), specs[template]
            key = fingerprint(
                split["key"], m1["key"] if "{m1}" in template else None, spm["key"] if "{spm}" in template else None
            )
            family = [(Method(t), s) for t, s in specs.items() if same_bits(s, spec)]
            self.log(f"{method.label}: {spec}")
            train = self.compress(method, spec, "train", key, family)
            held = self.compress(method, spec, "held-out", key, family)
            sizes = [self.train_size(method, spec, train, held, key, size) for size in b.m2_sizes]
            main = sizes[-1]  # the findings are decided at the largest M2, and it generates
            sample = self.generate(method, spec, main["seeds"][0]["m2"], main["key"])
            rows.append(
                {
                    "method": method.label,
                    "spec": spec,
                    "train": train,
                    "held_out": held,
                    "m2": main["seeds"][0]["m2"],
                    "eval": main["eval"],
                    "seeds": main["seeds"],
                    "sizes": sizes,
                    "sample": sample,
                    "split": split,
                }
            )
        stable = self.stability(specs, fingerprint(split["key"], m1["key"], spm["key"]))
        for row, figures in zip(rows, stable, strict=True):
            row["stability"] = figures
        self.log(f"all stages done in {time.perf_counter() - started:.0f} s")
        return rows
