"""Round-trip documents through any tokenizer and sum what it cost: `eqinfo codec-check --tokenizer`, the benches.

The figures carry codec-check's keys; those a method does not have are null (a SentencePiece
id is not a bitstream, and only the AC methods have a model's ideal code length).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from compressor.tokenizers.base import Tokenizer
from compressor.tokenizers.errors import TokenizerDecodeError

ProgressFactory = Callable[[str, int], AbstractContextManager]
CHUNK = 256  # documents per batch call: one lockstep coder's batch, and a bound on decoders' caches


def in_chunks(
    fn: Callable[[Sequence], list],
    items: Sequence,
    sizes: Sequence[int],
    label: str,
    progress: ProgressFactory | None = None,
    chunk: int = CHUNK,
) -> list[Any]:
    """fn over `items`, `chunk` at a time, concatenated; a progress bar (if any) advances by
    each chunk's `sizes` (bytes or tokens), so long inputs show progress and memory stays bounded."""
    out: list[Any] = []
    with progress(label, sum(sizes)) if progress else nullcontext() as bar:
        for i in range(0, len(items), chunk):
            out += fn(items[i : i + chunk])
            if bar is not None:
                bar.update(sum(sizes[i : i + chunk]))
    return out


def run_check(tok: Tokenizer, docs: Sequence[bytes], progress: ProgressFactory | None = None) -> dict:
    """Encodes `docs`, decodes the ids and compares byte for byte, in chunks of documents."""
    sizes = [len(d) for d in docs]
    t0 = time.perf_counter()
    encoded = in_chunks(tok.encode_detailed, docs, sizes, "encode", progress)
    t1 = time.perf_counter()
    decoded = in_chunks(tok.try_decode_batch, [e.ids for e in encoded], sizes, "decode", progress)
    t2 = time.perf_counter()
    mismatches = [i for i, (d, r) in enumerate(zip(docs, decoded, strict=True)) if r != d]
    raw = sum(len(d) for d in docs)
    tokens = sum(int(e.ids.size) for e in encoded)
    bitstream = all(e.coded_bits is not None for e in encoded)
    modelled = all(e.ideal_bits is not None for e in encoded)
    return {
        "tokenizer": tok.spec,
        "method": tok.name,
        "vocab_size": tok.vocab_size,
        "documents": len(docs),
        "raw_bytes": raw,
        "tokens": tokens,
        "windows": sum(e.windows for e in encoded),
        "padding_bits": sum(e.padding_bits for e in encoded),
        "bytes_per_token": round(raw / tokens, 4) if tokens else 0.0,
        "ideal_bits": round(sum(e.ideal_bits for e in encoded), 1) if modelled else None,
        "coded_bits": sum(e.coded_bits for e in encoded) if bitstream else None,
        "exact": not mismatches,
        "mismatches": len(mismatches),
        "first_mismatch": mismatches[0] if mismatches else None,
        "first_error": next((str(r) for r in decoded if isinstance(r, TokenizerDecodeError)), None),
        "encode_seconds": round(t1 - t0, 2),
        "decode_seconds": round(t2 - t1, 2),
    }


def format_summary(s: dict) -> str:
    """A readable table of run_check's figures."""
    rows = [
        ("tokenizer", f"{s['tokenizer']} (vocabulary {s['vocab_size']:,})"),
        ("documents", f"{s['documents']:,}"),
        ("raw bytes", f"{s['raw_bytes']:,}"),
        ("tokens", f"{s['tokens']:,}"),
        ("bytes / token", f"{s['bytes_per_token']:.3f}"),
        ("windows", f"{s['windows']:,}" if s["windows"] else "-"),
        ("coded bits", "-" if s["coded_bits"] is None else f"{s['coded_bits']:,}"),
        ("ideal bits", "-" if s["ideal_bits"] is None else f"{s['ideal_bits']:,.0f}"),
        ("padding bits", f"{s['padding_bits']:,}"),
        ("time", f"encode {s['encode_seconds']:.2f} s, decode {s['decode_seconds']:.2f} s"),
        ("exact", "yes, every document round-trips" if s["exact"] else f"NO: {s['mismatches']} mismatches"),
    ]
    if s["first_error"]:
        rows.append(("first error", s["first_error"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
