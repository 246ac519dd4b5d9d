"""Local paths and gs:// URLs: the few file operations every stage needs, in one place.

Corpora, models, shards, manifests and checkpoints may live on GCS.  gcsfs is imported only for
gs:// paths, so local runs load no cloud libraries.  Writes never leave a partial file visible:
a local file is written under a temporary name and renamed; a GCS object appears only when its
upload completes, so remote files are written locally first and uploaded to their final name.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

GCS_PREFIX = "gs://"
GCS_ENDPOINT_ENV = "EQINFO_GCS_ENDPOINT"  # e.g. a local emulator; unset means real GCS
GCS_TIMEOUT_ENV = "EQINFO_GCS_TIMEOUT"  # seconds per HTTP request; unset means gcsfs's (none)
CACHE_ENV = "EQINFO_CACHE"  # where remote models are staged [default: ~/.cache/eqinfo]
TMP_MARK = ".tmp-"  # in the names of files being written


class StorageError(OSError):
    """A path that cannot be read or written; the message names it."""


def is_gcs_url(path: str | Path) -> bool:
    # Checked on the string: Path("gs://b/o") would collapse the "//" and lose the scheme.
    return isinstance(path, str) and path.startswith(GCS_PREFIX)


def gcs_filesystem():
    """A gcsfs filesystem configured from the environment.

    With EQINFO_GCS_ENDPOINT set (tests, local emulators) it talks anonymously to that server,
    using the plain GCSFileSystem: gcsfs's experimental zonal/HNS class would first probe each
    bucket over gRPC, which emulators lack, at a 60 s time-out per bucket.  Otherwise it is
    gcsfs's default: real GCS with the default credentials.
    """
    endpoint = os.environ.get(GCS_ENDPOINT_ENV)
    timeout = os.environ.get(GCS_TIMEOUT_ENV)
    kwargs = {"requests_timeout": float(timeout)} if timeout else {}
    if not endpoint:
        import gcsfs

        return gcsfs.GCSFileSystem(**kwargs)
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")  # read when gcsfs is imported
    from gcsfs.core import GCSFileSystem

    return GCSFileSystem(endpoint_url=endpoint, token="anon", **kwargs)


def fsspec_options(path: str) -> dict:
    """Keyword arguments that make fsspec's own gs:// filesystem (as libraries such as DCP open
    it) talk to the same endpoint as gcs_filesystem()."""
    if not is_gcs_url(path) or not os.environ.get(GCS_ENDPOINT_ENV):
        return {}
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    return {"endpoint_url": os.environ[GCS_ENDPOINT_ENV], "token": "anon"}


def _remote(action: str, path: str, call):
    """Runs a gcsfs call; its many exception types become one StorageError naming the path."""
    try:
        return call(gcs_filesystem())
    except FileNotFoundError:
        raise StorageError(f"{path}: no such file") from None
    except Exception as exc:
        raise StorageError(f"{path}: cannot {action} ({exc})") from None


def join(base: str, *names: str) -> str:
    if is_gcs_url(base):
        return "/".join([base.rstrip("/"), *names])
    return str(Path(base, *names))


def exists(path: str) -> bool:
    if is_gcs_url(path):
        return bool(_remote("read", path, lambda fs: fs.isfile(path)))
    return Path(path).is_file()


def read_bytes(path: str) -> bytes:
    if is_gcs_url(path):
        return _remote("read", path, lambda fs: fs.cat_file(path))
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StorageError(f"{path}: cannot read ({exc.strerror})") from None


def write_bytes(path: str, data: bytes) -> None:
    """Writes a whole file; readers see the old file or the new one, never a part."""
    if is_gcs_url(path):
        _remote("write", path, lambda fs: fs.pipe_file(path, data))
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(str(target))
    try:
        Path(tmp).write_bytes(data)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write ({exc.strerror})") from None


def temporary_name(final: str) -> str:
    """A hidden name beside `final` for a file being written (unique per writer)."""
    head, _, name = final.rpartition("/")
    return f"{head}/.{name}{TMP_MARK}{uuid.uuid4().hex[:12]}" if head else f".{name}{TMP_MARK}{uuid.uuid4().hex[:12]}"


def publish(local: str, final: str) -> None:
    """Moves a finished local file to its final path: a rename locally, an upload to GCS."""
    if is_gcs_url(final):
        try:
            _remote("write", final, lambda fs: fs.put_file(local, final))
        finally:
            Path(local).unlink(missing_ok=True)
        return
    Path(final).parent.mkdir(parents=True, exist_ok=True)
    os.replace(local, final)


def staging_path(final: str) -> str:
    """Where to write a file that will be published to `final`: beside it locally (so the
    rename is atomic), in the local temporary directory for GCS."""
    if is_gcs_url(final):
        return str(Path(tempfile.gettempdir()) / temporary_name(final.rsplit("/", 1)[-1]).lstrip("."))
    Path(final).parent.mkdir(parents=True, exist_ok=True)
    return temporary_name(final)


def remove(path: str) -> None:
    if is_gcs_url(path):
        _remote("remove", path, lambda fs: fs.rm_file(path))
    else:
        Path(path).unlink(missing_ok=True)


def remove_tree(path: str) -> None:
    """Removes a directory (a gs:// prefix) and everything under it; nothing if it is absent."""
    if is_gcs_url(path):
        _remote("remove", path, lambda fs: fs.rm(path, recursive=True) if fs.exists(path) else None)
    else:
        shutil.rmtree(path, ignore_errors=True)


def list_names(path: str) -> list[str]:
    """Names directly under a directory (a gs:// prefix), sorted; [] if it is absent."""
    if is_gcs_url(path):
        found = _remote("list", path, lambda fs: fs.ls(path, detail=False) if fs.exists(path) else [])
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in found)
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def match(pattern: str) -> list[str]:
    """Files matching a glob pattern (or the one file it names), sorted."""
    if is_gcs_url(pattern):
        found = _remote("list", pattern, lambda fs: [p for p in fs.glob(pattern) if fs.isfile(p)])
        return sorted(p if is_gcs_url(p) else GCS_PREFIX + p for p in found)
    return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))


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
    info = _remote("read", path, lambda fs: fs.info(path))
    version = str(info.get("generation") or info.get("etag") or info.get("updated"))
    key = hashlib.sha256(f"{path}\0{version}".encode()).hexdigest()[:24]
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "eqinfo") / "gcs" / key
    target = root / path.rsplit("/", 1)[-1]
    if not target.is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(str(target))
        _remote("read", path, lambda fs: fs.get_file(path, tmp))
        os.replace(tmp, target)
    return target


def sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes, local or remote."""
    digest = hashlib.sha256()
    if is_gcs_url(path):
        digest.update(read_bytes(path))
        return digest.hexdigest()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise StorageError(f"{path}: cannot read ({exc.strerror})") from None
    return digest.hexdigest()
