"""Reading documents: C4-style JSON lines (plain, gzipped or zstd-compressed) and plain text files, local or on GCS.

C4 lines carry the document in `text`; other fields (timestamp, url) are ignored, so both the
original `2019-04-25T12:57:54Z` and dataframe-export `2019-04-25 12:57:54` styles read the same.
Plain text files are one document each.  A name ending in .gz or .zst is decompressed as it is
read (`.jsonl.zst`, as The Pile, Dolma and RedPajama ship them; `doc.txt.zst` is one compressed
text document).  Every malformed input raises CorpusError naming the file and line (or, from
`iter_documents`, is returned in its line's place), and a file that breaks off or is corrupt
raises it after the lines read before the failure, so nothing is dropped silently.

`gs://bucket/object` paths are read through `storage` with the same rules, so a corpus can stay
in its bucket.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import zstandard

from compressor.io import storage

JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz", ".json.zst", ".jsonl.zst")
ZSTD_INPUT = 1 << 12  # compressed bytes decoded at a time: at most 128 MiB out (see ZstdReader), ~20 KiB for text
ZSTD_BUFFER = 1 << 16  # decompressed bytes buffered for line iteration


class CorpusError(ValueError):
    """A document could not be read; the message names the file and line, `reason` the kind."""

    def __init__(self, message: str, reason: str = "unreadable"):
        super().__init__(message)
        self.reason = reason


def is_json_lines(path: str | Path) -> bool:
    return str(path).endswith(JSON_SUFFIXES)


def parse_c4_line(line: bytes | str, where: str) -> bytes:
    """One C4 JSON line -> the UTF-8 bytes of its `text` field."""
    try:
        record = json.loads(line)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{where}: invalid UTF-8 ({exc.reason} at byte {exc.start})", "invalid_utf8") from None
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: malformed JSON ({exc})", "malformed_json") from None
    if not isinstance(record, dict) or "text" not in record:
        raise CorpusError(f"{where}: record has no 'text' field", "missing_text")
    text = record["text"]
    if not isinstance(text, str):
        raise CorpusError(f"{where}: 'text' is {type(text).__name__}, not a string", "text_not_string")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates from \ud800-style escapes
        raise CorpusError(f"{where}: text is not valid Unicode ({exc.reason})", "invalid_unicode") from None


def read_documents(path: str | Path, limit: int | None = None) -> Iterator[bytes]:
    """Yields each document's bytes, at most `limit` of them; `path` may be a gs:// URL.
    The first line that is not a document raises its CorpusError."""
    if limit is not None and limit <= 0:
        check_exists(path)
        return
    for count, (_, doc) in enumerate(iter_documents(path), 1):
        if isinstance(doc, CorpusError):
            raise doc
        yield doc
        if limit is not None and count >= limit:
            return


def write_documents(path: str | Path, docs: Iterable[bytes]) -> Path:
    """Documents as C4-style JSON lines ({"text": ...}), for read_documents to read back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, d in enumerate(docs):
        try:
            lines.append(json.dumps({"text": d.decode("utf-8")}) + "\n")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: document {i} is not UTF-8 text (byte {exc.start})", "invalid_utf8") from None
    path.write_text("".join(lines), encoding="utf-8")
    return path


def iter_documents(path: str | Path) -> Iterator[tuple[int, bytes | CorpusError]]:
    """(line, document bytes), or (line, CorpusError) for a line that is not a document, for every
    non-blank line of a JSON-lines file; a plain text file is one document at line 1.  A file
    that cannot be opened or read to the end raises CorpusError (after the lines read so far)."""
    with open_corpus(path) as fh:
        if not is_json_lines(path):
            yield 1, fh.read()
            return
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield lineno, parse_c4_line(line, f"{path}:{lineno}")
                except CorpusError as exc:
                    yield lineno, exc


def check_exists(path: str | Path) -> None:
    """CorpusError unless path is a readable file (local or gs://)."""
    try:
        storage.info(str(path))
    except storage.NoSuchFile:
        raise CorpusError(f"{path}: no such file") from None
    except storage.StorageError as exc:
        raise CorpusError(str(exc)) from None


class ZstdReader(io.RawIOBase):
    """A zstd file (one frame or several back to back) decompressed as it is read.  zstandard's own
    `stream_reader` ends a file cut inside a frame early without an error, which would turn a broken
    download into a short corpus; here each frame has its own decompressobj, whose `eof` says the frame
    is complete, so input that ends inside a frame raises EOFError.  Corrupt data raises ZstdError (a
    frame's checksum, which the zstd tool writes by default, catches what the format alone cannot).
    Input goes in ZSTD_INPUT bytes at a time, so one step's output is bounded: a zstd block expands at
    most 32,768 times (an RLE block, 4 bytes for 128 KiB)."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None  # the decompressobj of the frame being read; None between frames
        self._out = memoryview(b"")  # decompressed, not yet read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            data = self._fh.read(ZSTD_INPUT)
            if not data:
                if self._frame is not None:
                    raise EOFError("zstd file ends inside a frame: it is truncated")
                return 0
            self._out = memoryview(self._decompress(data))
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._frame is None:
                self._frame = self._dctx.decompressobj()
            out.append(self._frame.decompress(data))
            data = b""
            if self._frame.eof:  # the rest of `data` starts the next frame
                data, self._frame = self._frame.unused_data, None
        return b"".join(out)


def decompressed(path: str, fh: IO[bytes]) -> IO[bytes]:
    """`fh` decompressed as it is read, by the compression its name ends in (.gz, .zst; else none)."""
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=fh)
    if path.endswith(".zst"):
        return io.BufferedReader(ZstdReader(fh), ZSTD_BUFFER)
    return fh


@contextlib.contextmanager
def open_corpus(path: str | Path) -> Iterator[IO[bytes]]:
    """A corpus file opened for reading, decompressed if it ends in .gz or .zst; local or gs://.
    Errors while opening or reading it (a truncated gzip or zstd file, a failed request) become
    CorpusError."""
    check_exists(path)
    try:
        with storage.open(str(path)) as fh:
            yield decompressed(str(path), fh)
    except storage.StorageError as exc:  # a failed read must never look like a short corpus
        raise CorpusError(str(exc)) from None
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:  # truncated or corrupt gzip or zstd
        raise CorpusError(f"{path}: cannot read ({exc})") from None


def file_version(path: str | Path) -> tuple:
    """What identifies this version of a corpus file (for caching what was fitted on it):
    real path, mtime and size locally; URL, generation and size on GCS.  CorpusError if absent."""
    try:
        return storage.version(str(path))
    except storage.StorageError as exc:
        raise CorpusError(str(exc)) from None
