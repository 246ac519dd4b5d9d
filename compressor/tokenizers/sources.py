"""Where a coding spec's byte model comes from: `model=NAME` (a simple model, fitted on `fit=PATH`
where it learns from data) or a loader's own key (`m1=PATH`; `register_model_loader` adds more).

Loading reads files, so it happens only when a tokenizer is built, never while a spec is parsed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from compressor.io.corpus import CorpusError, file_version, read_documents
from compressor.models.base import ByteModel
from compressor.models.simple import build_model
from compressor.tokenizers.errors import SpecError

FITTED_MODELS = ("unigram", "order2")  # models that learn from fit=PATH
RESERVED_KEYS = ("b", "v", "p", "model", "fit")

ModelLoader = Callable[[str, int], ByteModel]  # (value of the spec key, precision) -> model


def load_m1(path: str, precision: int) -> ByteModel:
    """`m1=PATH`: M1's calibrated integer twin (torch is imported only for specs that name M1)."""
    from compressor.models.m1.bytemodel import load_for_spec

    return load_for_spec(path, precision)


MODEL_LOADERS: dict[str, ModelLoader] = {"m1": load_m1}


def register_model_loader(key: str, loader: ModelLoader) -> None:
    """Makes `ac`/`equal_info_ac` accept `key=VALUE`, the model being `loader(VALUE, precision)`."""
    if key in RESERVED_KEYS:
        raise ValueError(f"{key!r} is a reserved spec key")
    MODEL_LOADERS[key] = loader


def loader_keys() -> tuple[str, ...]:
    return tuple(sorted(MODEL_LOADERS))


def load(key: str, value: str, precision: int, where: str) -> ByteModel:
    """The model a loader key names; an absent or unreadable checkpoint is a SpecError."""
    if key not in MODEL_LOADERS:
        raise SpecError(f"{where}: no loader for {key!r} (compressor.tokenizers.sources.register_model_loader)")
    try:
        return MODEL_LOADERS[key](value, precision)
    except OSError as exc:  # a checkpoint that is absent or cannot be read, local or remote
        raise SpecError(f"{where}: {exc}") from None


def simple(name: str, fit: str | None, precision: int, where: str) -> ByteModel:
    """A simple model, fitted on the documents of `fit`; cached per (model, fit file version, precision)."""
    if fit is None:
        return build_model(name, None, precision)
    try:
        version = file_version(fit)
    except CorpusError as exc:
        raise SpecError(f"{where}: fit={exc}") from None
    return _fitted(name, version, precision)


@functools.lru_cache(maxsize=16)
def _fitted(name: str, version: tuple, precision: int) -> ByteModel:
    path = version[0]
    try:
        docs = list(read_documents(path))
    except CorpusError as exc:
        raise SpecError(f"fit={path}: {exc}") from None
    if not docs:
        raise SpecError(f"fit={path} holds no documents")
    return build_model(name, docs, precision)
