"""Token stability, the paper's protocol (Lester et al. 2024): how far a method's ids
move when the text changes a little, and how often its ids recur across documents.

Words are prepended to one fixed sentence and every pair of the resulting id sequences is
compared by Levenshtein distance (rapidfuzz).  A method whose ids depend only on nearby text
(SentencePiece, Bytes) moves by about the word's length; one whose ids depend on everything
before them (AC) changes the whole sequence.  The words, the sentence and the draw are fixed
here, before any result is seen.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from compressor.tokenizers.base import Tokenizer
from compressor.tokenizers.paper import method_label, method_slug

SENTENCE = "went to the market on Tuesday to buy fresh bread and a bottle of milk."
WORDS = 500  # words drawn per analysis, as in the paper
LIST_SIZE = 3000  # the paper's word list: its 3,000 words
SEED = 0
REUSE_DOCS = 20  # the paper's reuse figure: 20 documents of 1,024 bytes
REUSE_BYTES = 1024
NEAR = 2  # "within distance 2": the share of pairs that nearly agree

_WORD = re.compile(rb"[A-Za-z]+")


def frequent_words(docs: Iterable[bytes], n: int = LIST_SIZE) -> list[str]:
    """The n most frequent words of the text (ASCII letters, lower-cased), most frequent first,
    ties in alphabetical order, so the list depends on the text alone."""
    counts = Counter(w.lower().decode("ascii") for d in docs for w in _WORD.findall(d))
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def draw_words(words: Sequence[str], n: int = WORDS, seed: int = SEED) -> list[str]:
    """n distinct words of the list, drawn with a fixed seed."""
    distinct = list(dict.fromkeys(words))
    if len(distinct) < n:
        raise ValueError(f"the word list has {len(distinct)} distinct words; {n} are drawn")
    return random.Random(seed).sample(distinct, n)


def reuse_documents(docs: Iterable[bytes], n: int = REUSE_DOCS, size: int = REUSE_BYTES) -> list[bytes]:
    """The first n documents (fewer where the text has fewer) of at least `size` bytes, each cut
    to its first `size` bytes at a UTF-8 character boundary."""
    out = []
    for d in docs:
        if len(out) == n:
            break
        if len(d) >= size:
            out.append(d[:size].decode("utf-8", errors="ignore").encode("utf-8"))
    return out


def pair_distances(sequences: Sequence[Sequence[int]]) -> np.ndarray:
    """The Levenshtein distance of every unordered pair of id sequences, as one flat array."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    seqs = [list(map(int, s)) for s in sequences]
    matrix = process.cdist(seqs, seqs, scorer=Levenshtein.distance, dtype=np.int32, workers=-1)
    return matrix[np.triu_indices(len(seqs), k=1)]


@dataclass(frozen=True)
class Stability:
    words: int
    pairs: int
    mean_distance: float
    median_distance: float
    within_2: float  # share of pairs at distance <= NEAR
    mean_ids: float  # ids per sequence, for scale: a distance means more where sequences are short
    histogram: dict[int, int]  # distance -> pairs
    reuse_documents: int
    distinct_ids: int
    reused_share: float  # share of the distinct ids that occur in more than one document

    def to_dict(self) -> dict:
        return asdict(self)


def stability(tokenizer: Tokenizer, words: Sequence[str], docs: Sequence[bytes], sentence: str = SENTENCE) -> Stability:
    """The paper's two stability figures for one tokenizer: pair distances over words + sentence,
    and id reuse across `docs`."""
    sequences = tokenizer.encode_batch([f"{w} {sentence}" for w in words])
    distances = pair_distances(sequences)
    values, counts = np.unique(distances, return_counts=True)
    per_doc = [set(map(int, ids)) for ids in tokenizer.encode_batch(list(docs))]
    seen = Counter(i for ids in per_doc for i in ids)
    return Stability(
        words=len(words),
        pairs=int(distances.size),
        mean_distance=float(distances.mean()),
        median_distance=float(np.median(distances)),
        within_2=float((distances <= NEAR).mean()),
        mean_ids=float(np.mean([len(s) for s in sequences])),
        histogram={int(v): int(c) for v, c in zip(values, counts, strict=True)},
        reuse_documents=len(docs),
        distinct_ids=len(seen),
        reused_share=sum(c > 1 for c in seen.values()) / max(1, len(seen)),
    )


def plot_histogram(result: Stability, label: str, path: str) -> None:
    """The distribution of pair distances, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(list(result.histogram), list(result.histogram.values()), width=1.0)
    ax.axvline(result.mean_distance, color="k", ls=":", lw=1)
    ax.set(
        xlabel="Levenshtein distance between the ids of two sequences",
        ylabel="pairs",
        title=f"{label}: mean {result.mean_distance:.1f}, {result.within_2:.1%} within {NEAR}",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def analyze(methods: Sequence[tuple[str, str]], words: Sequence[str], docs: Sequence[bytes], out: Path) -> list[dict]:
    """Every method's figures, (template, spec) pairs in; writes OUT/stability-SLUG.png each."""
    from compressor.tokenizers import parse_spec

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for template, spec in methods:
        label, slug = method_label(template), method_slug(template)
        result = stability(parse_spec(spec), words, docs)
        plot = out / f"stability-{slug}.png"
        plot_histogram(result, label, str(plot))
        rows.append({"method": label, "tokenizer": template, "plot": plot.name, **result.to_dict()})
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """One line per method: the pair distances' mean, median and near share, and id reuse."""
    head = f"{'method':<26} {'ids/seq':>7} {'mean':>6} {'median':>6} {'<=' + str(NEAR):>6} {'reused':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['method']:<26} {r['mean_ids']:7.1f} {r['mean_distance']:6.1f} {r['median_distance']:6.1f}"
            f" {r['within_2']:6.1%} {r['reused_share']:7.1%}"
        )
    return "\n".join(lines)
