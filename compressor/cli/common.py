"""Pieces every `eqinfo` command module shares."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

import click

from compressor.io.corpus import CorpusError, read_documents


def documents(path: str, limit: int | None, what: str) -> list[bytes]:
    """All documents of a corpus file, or a clean command-line error."""
    try:
        docs = list(read_documents(path, limit))
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from None
    if not docs:
        raise click.ClickException(f"{what} {path} holds no documents")
    return docs


def progress(label: str, total: int):
    """A progress bar on a terminal; silence in logs and pipes."""
    if not sys.stderr.isatty():
        return nullcontext(None)
    return click.progressbar(length=total, label=f"{label:<7}", file=sys.stderr, show_pos=False, width=30)


class CorpusPath(click.ParamType):
    """A corpus file: a local path that exists, or a gs:// URL (checked when it is read)."""

    name = "FILE|gs://URL"

    def convert(self, value, param, ctx):
        value = str(value)
        if value.startswith("gs://") or Path(value).is_file():
            return value
        self.fail(f"{value}: no such file", param, ctx)


CORPUS = CorpusPath()
