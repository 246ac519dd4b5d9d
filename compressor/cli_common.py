"""Pieces every `eqinfo` command module shares."""

from __future__ import annotations

import click

from compressor.corpus import CorpusError, read_documents


def documents(path: str, limit: int | None, what: str) -> list[bytes]:
    """All documents of a corpus file, or a clean command-line error."""
    try:
        docs = list(read_documents(path, limit))
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from None
    if not docs:
        raise click.ClickException(f"{what} {path} holds no documents")
    return docs
