"""Encode every document, decode it, compare: the figures behind `eqinfo codec-check` and the demo."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from compressor.methods import ArithmeticCoding, DecodeError, EqualInfoAC

ProgressFactory = Callable[[str, int], AbstractContextManager]


def run_check(
    codec: EqualInfoAC | ArithmeticCoding,
    docs: Sequence[bytes],
    progress: ProgressFactory | None = None,
) -> dict:
    """Round-trips `docs` through `codec`; returns the summary figures (see SUMMARY_KEYS)."""
    total = sum(len(d) + 1 for d in docs)

    def bar(label: str):
        return progress(label, total) if progress is not None else nullcontext(None)

    t0 = time.perf_counter()
    with bar("encode") as b:
        encoded = codec.encode_batch(docs, progress=b.update if b is not None else None)
    t1 = time.perf_counter()
    with bar("decode") as b:
        decoded = codec.decode_batch([e.tokens for e in encoded], progress=b.update if b is not None else None)
    t2 = time.perf_counter()
    mismatches = [i for i, (d, r) in enumerate(zip(docs, decoded, strict=True)) if isinstance(r, DecodeError) or r != d]
    raw = sum(len(d) for d in docs)
    tokens = sum(int(e.tokens.size) for e in encoded)
    coded = sum(e.coded_bits for e in encoded)
    ideal = sum(e.ideal_bits for e in encoded)
    return {
        "method": codec.name,
        "model": codec.model.name,
        "window_bits": getattr(codec, "window_bits", None),
        "token_bits": codec.token_bits,
        "precision": codec.model.precision,
        "documents": len(docs),
        "raw_bytes": raw,
        "tokens": tokens,
        "windows": sum(e.windows for e in encoded),
        "padding_bits": tokens * codec.token_bits - coded,
        "bytes_per_token": round(raw / tokens, 4) if tokens else 0.0,
        "bits_per_byte": round(tokens * codec.token_bits / raw, 4) if raw else 0.0,
        "ideal_bits": round(ideal, 1),
        "coded_bits": coded,
        "overhead_pct": round(100 * (coded / ideal - 1), 3) if ideal else 0.0,
        "exact": not mismatches,
        "mismatches": len(mismatches),
        "first_mismatch": mismatches[0] if mismatches else None,
        "first_error": next((str(r) for r in decoded if isinstance(r, DecodeError)), None),
        "encode_seconds": round(t1 - t0, 2),
        "decode_seconds": round(t2 - t1, 2),
    }


def format_summary(s: dict) -> str:
    """A readable table of run_check's figures."""
    method = s["method"] + (f"[b={s['window_bits']}]" if s["window_bits"] else "")
    rows = [
        ("method", f"{method}, {s['token_bits']}-bit tokens, model {s['model']}, P={s['precision']}"),
        ("documents", f"{s['documents']:,}"),
        ("raw bytes", f"{s['raw_bytes']:,}"),
        ("tokens", f"{s['tokens']:,}"),
        ("windows", f"{s['windows']:,}" if s["window_bits"] else "-"),
        ("bytes / token", f"{s['bytes_per_token']:.3f}"),
        ("bits / byte", f"{s['bits_per_byte']:.3f}"),
        ("ideal bits", f"{s['ideal_bits']:,.0f}"),
        ("coded bits", f"{s['coded_bits']:,}  ({s['overhead_pct']:+.3f}% over ideal)"),
        ("padding bits", f"{s['padding_bits']:,}"),
        ("time", f"encode {s['encode_seconds']:.2f} s, decode {s['decode_seconds']:.2f} s"),
        ("exact", "yes, every document round-trips" if s["exact"] else f"NO: {s['mismatches']} mismatches"),
    ]
    if s["first_error"]:
        rows.append(("first error", s["first_error"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
