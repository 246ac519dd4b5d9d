"""Reading documents: C4-style JSON lines (plain or gzipped) and plain text files.

C4 lines carry the document in `text`; other fields (timestamp, url) are ignored, so both the
original `2019-04-25T12:57:54Z` and dataframe-export `2019-04-25 12:57:54` styles read the same.
Plain text files are one document each.  Every malformed input raises CorpusError naming the
file and line, so nothing is dropped silently.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


class CorpusError(ValueError):
    """A document could not be read; the message names the file and line."""


def is_json_lines(path: str | Path) -> bool:
    return str(path).endswith(JSON_SUFFIXES)


def parse_c4_line(line: bytes | str, where: str) -> bytes:
    """One C4 JSON line -> the UTF-8 bytes of its `text` field."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{where}: malformed JSON ({exc})") from None
    if not isinstance(record, dict) or "text" not in record:
        raise CorpusError(f"{where}: record has no 'text' field")
    text = record["text"]
    if not isinstance(text, str):
        raise CorpusError(f"{where}: 'text' is {type(text).__name__}, not a string")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates from \ud800-style escapes
        raise CorpusError(f"{where}: text is not valid Unicode ({exc.reason})") from None


def read_documents(path: str | Path, limit: int | None = None) -> Iterator[bytes]:
    """Yields each document's bytes, at most `limit` of them."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    if limit is not None and limit <= 0:
        return
    if not is_json_lines(path):
        yield path.read_bytes()
        return
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    try:
        with opener(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                yield parse_c4_line(line, f"{path}:{lineno}")
                count += 1
                if limit is not None and count >= limit:
                    return
    except (OSError, EOFError) as exc:  # truncated or corrupt gzip
        raise CorpusError(f"{path}: cannot read ({exc})") from None
