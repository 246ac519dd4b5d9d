"""Tokenizer spec strings: `method:key=value,...`, parsed and checked in this one place.

    bytes
    sentencepiece:model=PATH
    gzip:v=256                                   v=256 | 65536: 8- or 16-bit tokens
    static_ac:v=256,fit=PATH[,p=14]              AC with a unigram model fitted on PATH
    ac:v=65536,model=order2,fit=PATH[,p=14]      model=uniform needs no fit
    equal_info_ac:b=16,v=65536,model=order2,fit=PATH[,p=14]
    equal_info_ac:b=16,v=65536,m1=PATH           once a loader for `m1` is registered

A spec names everything needed to rebuild a tokenizer, so it is what manifests record.  The
canonical form (`str(Spec)`) orders keys as above and spells out the default precision.  Values
cannot contain `,` or `=`.  Byte models come from `model=NAME` (compressor.models, fitted on
`fit=PATH`) or from a loader registered under its own key (`m1=PATH`), see `register_model_loader`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from compressor.coder import DEFAULT_PRECISION
from compressor.corpus import CorpusError, file_version, read_documents
from compressor.equal_info import WINDOW_BITS
from compressor.models import MODELS, ByteModel, build_model

VOCABS = {256: 8, 65536: 16}  # v -> token bits
FITTED_MODELS = ("unigram", "order2")  # models that learn from fit=PATH

ModelLoader = Callable[[str, int], ByteModel]  # (value of the spec key, precision) -> model
MODEL_LOADERS: dict[str, ModelLoader] = {}
# Loaders that register themselves when their module is imported; tried on first use.
MODEL_LOADER_MODULES = {"m1": "compressor.m1.coding"}

_REQUIRED = {
    "bytes": (),
    "sentencepiece": ("model",),
    "gzip": ("v",),
    "static_ac": ("v", "fit"),
    "ac": ("v",),
    "equal_info_ac": ("b", "v"),
}
_OPTIONAL = {"static_ac": ("p",), "ac": ("model", "fit", "p"), "equal_info_ac": ("model", "fit", "p")}
_TAKES_LOADERS = ("ac", "equal_info_ac")
METHODS = tuple(_REQUIRED)


class SpecError(ValueError):
    """A spec string that names no tokenizer, or one that cannot be built."""


def register_model_loader(key: str, loader: ModelLoader) -> None:
    """Makes `ac`/`equal_info_ac` accept `key=VALUE`, the model being `loader(VALUE, precision)`."""
    if key in ("b", "v", "p", "model", "fit"):
        raise ValueError(f"{key!r} is a reserved spec key")
    MODEL_LOADERS[key] = loader


def loader_keys() -> tuple[str, ...]:
    return tuple(sorted(set(MODEL_LOADERS) | set(MODEL_LOADER_MODULES)))


@dataclass(frozen=True)
class Spec:
    """A parsed spec: the method and its options (canonical string values, canonical order)."""

    method: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Spec:
        """Checks syntax and values (no files are read); raises SpecError naming the problem."""
        method, _, rest = text.partition(":")
        method = method.strip()
        if method not in _REQUIRED:
            raise SpecError(f"unknown tokenizer {method!r} in {text!r}; choose from {', '.join(METHODS)}")
        options: dict[str, str] = {}
        for item in rest.split(",") if rest.strip() else []:
            key, eq, value = (s.strip() for s in item.partition("="))
            if not eq or not key:
                raise SpecError(f"{text!r}: {item!r} is not key=value")
            if key in options:
                raise SpecError(f"{text!r}: duplicate key {key!r}")
            options[key] = value
        return cls.of(method, options, text)

    @classmethod
    def of(cls, method: str, options: dict[str, object], where: str | None = None) -> Spec:
        """A checked spec from a method and its option values (ints or strings)."""
        where = where or method
        allowed = _REQUIRED[method] + _OPTIONAL.get(method, ()) + (loader_keys() if method in _TAKES_LOADERS else ())
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise SpecError(
                f"{where!r}: unknown key {unknown[0]!r} for {method}; allowed: {', '.join(allowed) or 'none'}"
            )
        missing = [k for k in _REQUIRED[method] if k not in options]
        if missing:
            raise SpecError(f"{where!r}: {method} needs {missing[0]}=...")
        values = {k: _check_value(method, k, str(v), where) for k, v in options.items()}
        if method in _TAKES_LOADERS:
            _check_model_source(values, where)
        if method in _OPTIONAL:
            values.setdefault("p", str(DEFAULT_PRECISION))
        order = ("b", "v", "model", "fit", *loader_keys(), "p")
        return cls(method, tuple(sorted(values.items(), key=lambda kv: order.index(kv[0]))))

    def __str__(self) -> str:
        return self.method + (":" + ",".join(f"{k}={v}" for k, v in self.options) if self.options else "")

    def get(self, key: str) -> str | None:
        return dict(self.options).get(key)


def _check_value(method: str, key: str, value: str, where: str) -> str:
    if not value or "," in value or "=" in value:
        raise SpecError(f"{where!r}: {key}={value!r}: a value must be non-empty, without ',' or '='")

    def integer(choices) -> str:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number not in choices:
            shown = (
                f"{choices.start}..{choices.stop - 1}" if isinstance(choices, range) else ", ".join(map(str, choices))
            )
            raise SpecError(f"{where!r}: {key}={value} must be one of {shown}")
        return str(number)

    if key == "v":
        return integer(VOCABS)
    if key == "b":
        return integer(WINDOW_BITS)
    if key == "p":
        return integer(range(1, 17))
    if key == "model" and method != "sentencepiece" and value not in MODELS:
        raise SpecError(f"{where!r}: model={value} is not one of {', '.join(MODELS)}")
    return value


def _check_model_source(values: dict[str, str], where: str) -> None:
    sources = [k for k in ("model", *loader_keys()) if k in values]
    if len(sources) != 1:
        choices = " or ".join(["model=uniform|unigram|order2", *(f"{k}=PATH" for k in loader_keys())])
        raise SpecError(f"{where!r}: needs exactly one model source: {choices}")
    fitted = values.get("model") in FITTED_MODELS
    if fitted and "fit" not in values:
        raise SpecError(f"{where!r}: model={values['model']} needs fit=PATH (documents to fit it on)")
    if not fitted and "fit" in values:
        raise SpecError(f"{where!r}: fit= is only for model={' or model='.join(FITTED_MODELS)}")


def load_model(spec: Spec) -> ByteModel:
    """The byte model a coding spec names; fitted models are cached per (model, fit file, precision)."""
    precision = int(spec.get("p") or DEFAULT_PRECISION)
    name = "unigram" if spec.method == "static_ac" else spec.get("model")
    if name is None:
        key = next(k for k in loader_keys() if spec.get(k) is not None)
        try:
            return _loader(key)(spec.get(key), precision)
        except OSError as exc:  # a checkpoint that is absent or cannot be read, local or remote
            raise SpecError(f"{spec}: {exc}") from None
    fit = spec.get("fit")
    if fit is None:
        return build_model(name, None, precision)
    try:
        version = file_version(fit)
    except CorpusError as exc:
        raise SpecError(f"{spec}: fit={exc}") from None
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


def _loader(key: str) -> ModelLoader:
    if key not in MODEL_LOADERS and key in MODEL_LOADER_MODULES:
        module = MODEL_LOADER_MODULES[key]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module and not module.startswith(f"{exc.name}."):
                raise  # the module exists but something it imports does not
            raise SpecError(f"no loader for {key!r}: {module} is not installed yet") from None
    if key not in MODEL_LOADERS:
        raise SpecError(
            f"no loader for {key!r}: {MODEL_LOADER_MODULES.get(key)} does not register one yet "
            "(compressor.spec.register_model_loader)"
        )
    return MODEL_LOADERS[key]
