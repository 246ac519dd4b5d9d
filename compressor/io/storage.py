"""Local paths and gs:// URLs: the few file operations every stage needs, through fsspec's one API.

Corpora, models, shards, manifests and checkpoints may live on GCS.  gcsfs is imported only for
gs:// paths, so local runs load no cloud libraries.  fsspec gives no atomic write, so writes go
through `publish`: a local file is written under a temporary name and renamed; a GCS object
appears only when its upload completes, so remote files are written locally and uploaded.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import posixpath
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import fsspec

GCS_PREFIX = "gs://"
GCS_ENDPOINT_ENV = "EQINFO_GCS_ENDPOINT"  # e.g. a local emulator; unset means real GCS
GCS_TIMEOUT_ENV = "EQINFO_GCS_TIMEOUT"  # seconds per HTTP request; unset means gcsfs's (none)
CACHE_ENV = "EQINFO_CACHE"  # where remote models are staged [default: ~/.cache/eqinfo]
TMP_MARK = ".tmp-"  # in the names of files being written
READ_BUFFER = 1 << 20  # gcsfs files iterate lines slowly unless read in large chunks


class StorageError(OSError):
    """A path that cannot be read or written; the message names it."""


class NoSuchFile(StorageError):
    """A path that names no file (nothing there, or a directory, bucket or prefix)."""


def is_gcs_url(path: str | Path) -> bool:
    # Checked on the string: Path("gs://b/o") would collapse the "//" and lose the scheme.
    return isinstance(path, str) and path.startswith(GCS_PREFIX)


def fsspec_options(path: str) -> dict:
    """The filesystem options for `path` ({} but for gs://), from the environment; for this module
    and for libraries such as DCP that open gs:// through fsspec themselves.

    With EQINFO_GCS_ENDPOINT set (tests, local emulators) gcsfs talks anonymously to that server,
    with its plain GCSFileSystem: the experimental zonal/HNS class would first probe each bucket
    over gRPC, which emulators lack, at a 60 s time-out per bucket.  Otherwise it is real GCS with
    the default credentials.
    """
    if not is_gcs_url(path):
        return {}
    timeout = os.environ.get(GCS_TIMEOUT_ENV)
    options = {"requests_timeout": float(timeout)} if timeout else {}
    if endpoint := os.environ.get(GCS_ENDPOINT_ENV):
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")  # read when gcsfs is imported
        options |= {"endpoint_url": endpoint, "token": "anon"}
    return options


def _fs(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, its own spelling of the path) for a local path or a gs:// URL."""
    options = fsspec_options(path)
    if "endpoint_url" in options:  # gcsfs's plain class, even where gcsfs was imported before the flag was set
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(**options), GCSFileSystem._strip_protocol(path)
    return fsspec.core.url_to_fs(path, **options)


@contextlib.contextmanager
def _errors(action: str, path: str) -> Iterator[None]:
    """Turns the many exception types of filesystem calls into one StorageError naming the path."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        from_os = isinstance(exc, OSError) and exc.filename is not None  # names the file; strerror says why
        missing = isinstance(exc, FileNotFoundError)
        if missing and not from_os:  # gcsfs's, naming only the object
            raise NoSuchFile(f"{path}: no such file") from None
        error = NoSuchFile if missing else StorageError
        raise error(f"{path}: cannot {action} ({exc.strerror if from_os else exc})") from None


def _call(action: str, path: str, call):
    """call(filesystem, path) for `path`, its failures StorageErrors."""
    with _errors(action, path):
        return call(*_fs(path))


def join(base: str, *names: str) -> str:
    return posixpath.join(base, *names)


def exists(path: str) -> bool:
    """Whether `path` is a file (not a directory or a prefix)."""
    return bool(_call("read", path, lambda fs, p: fs.isfile(p)))


def info(path: str) -> dict:
    """fsspec's metadata of a file ("size", and on GCS "generation"); NoSuchFile unless it is one."""
    meta = _call("read", path, lambda fs, p: fs.info(p))
    if meta.get("type") != "file":  # a directory, a bucket or a prefix
        raise NoSuchFile(f"{path}: no such file")
    return meta


def version(path: str) -> tuple:
    """What identifies this version of a file, for caching what was made of it: real path, mtime
    and size locally; URL, object generation and size on GCS.  StorageError unless it is a file."""
    meta = info(path)
    if is_gcs_url(path):
        return (path, str(meta.get("generation") or meta.get("etag") or meta.get("updated")), meta.get("size"))
    with _errors("read", path):
        stat = os.stat(path)  # fsspec's info rounds the mtime to a float
    return (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)


class _Reader(io.RawIOBase):
    """A filesystem's file whose read failures are StorageErrors, whatever gcsfs raised."""

    def __init__(self, path: str, raw):
        super().__init__()
        self.path, self.raw = path, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with _errors("read", self.path):
            return self.raw.readinto(buffer)

    def close(self) -> None:
        self.raw.close()
        super().close()


def open(path: str) -> IO[bytes]:
    """A file opened for one sequential read, in large blocks; every failure to open or read it
    is a StorageError."""
    # readahead suits one sequential pass; the buffer makes line iteration fast.
    raw = _call("read", path, lambda fs, p: fs.open(p, "rb", cache_type="readahead"))
    return io.BufferedReader(_Reader(path, raw), READ_BUFFER)


def read_bytes(path: str) -> bytes:
    return _call("read", path, lambda fs, p: fs.cat_file(p))


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file; readers see the old file or the new one, never a part."""
    tmp = staging_path(path)
    try:
        with _errors("write", path):
            Path(tmp).write_bytes(data)
        publish(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def temporary_name(final: str) -> str:
    """A hidden name beside `final` for a file being written (unique per writer)."""
    head, _, name = final.rpartition("/")
    return f"{head}/.{name}{TMP_MARK}{uuid.uuid4().hex[:12]}" if head else f".{name}{TMP_MARK}{uuid.uuid4().hex[:12]}"


def publish(local: str, final: str) -> None:
    """Moves a finished local file to its final path: a rename locally, an upload to GCS."""
    try:
        if is_gcs_url(final):
            _call("write", final, lambda fs, p: fs.put_file(local, p))
            return
        with _errors("write", final):
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            os.replace(local, final)
    finally:
        Path(local).unlink(missing_ok=True)


def staging_path(final: str) -> str:
    """Where to write a file that will be published to `final`: beside it locally (so the
    rename is atomic), in the local temporary directory for GCS."""
    if is_gcs_url(final):
        return str(Path(tempfile.gettempdir()) / temporary_name(final.rsplit("/", 1)[-1]).lstrip("."))
    with _errors("write", final):
        Path(final).parent.mkdir(parents=True, exist_ok=True)
    return temporary_name(final)


def remove(path: str) -> None:
    """Removes a file; nothing if it is absent."""
    with contextlib.suppress(NoSuchFile):
        _call("remove", path, lambda fs, p: fs.rm_file(p))


def remove_tree(path: str) -> None:
    """Removes a directory (a gs:// prefix) and everything under it; nothing if it is absent."""
    with contextlib.suppress(NoSuchFile):
        _call("remove", path, lambda fs, p: fs.rm(p, recursive=True))


def list_names(path: str) -> list[str]:
    """Names directly under a directory (a gs:// prefix), sorted; [] if it is absent."""
    found = _call("list", path, lambda fs, p: fs.ls(p, detail=False) if fs.isdir(p) else [])
    return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in found)


def match(pattern: str) -> list[str]:
    """Files matching a glob pattern (or the one file it names), sorted."""
    if not is_gcs_url(pattern):  # the shell's rules: paths as spelled, hidden names not matched by wildcards
        return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    with _errors("list", pattern):
        fs, fspattern = _fs(pattern)
        found = fs.glob(fspattern, detail=True)
    return sorted(fs.unstrip_protocol(name) for name, meta in found.items() if meta["type"] == "file")


def expand(patterns: Sequence[str]) -> list[str]:
    """The files a list of patterns names, in pattern order, each once; StorageError for a
    pattern that matches nothing (a typo must not look like an empty corpus)."""
    files: list[str] = []
    for pattern in patterns:
        found = match(pattern)
        if not found:
            raise StorageError(f"{pattern}: matches no file")
        files.extend(f for f in found if f not in files)
    return files


def local_copy(path: str) -> Path:
    """A local path holding the file: itself, or a gs:// object staged once into the cache
    (keyed by URL and object generation, so a changed object is fetched again)."""
    if not is_gcs_url(path):
        return Path(path)
    url, generation, _ = version(path)
    key = hashlib.sha256(f"{url}\0{generation}".encode()).hexdigest()[:24]
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "eqinfo") / "gcs" / key
    target = root / path.rsplit("/", 1)[-1]
    if not target.is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(str(target))
        try:
            _call("read", path, lambda fs, p: fs.get_file(p, tmp))
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def local_file(path: str) -> Iterator[Path]:
    """A local path holding the file for the duration of the block: itself, or a gs:// object
    downloaded to a temporary file that is removed afterwards (for files read once)."""
    if not is_gcs_url(path):
        yield Path(path)
        return
    tmp = staging_path(path)
    try:
        _call("read", path, lambda fs, p: fs.get_file(p, tmp))
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes, local or remote."""
    with open(path) as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
