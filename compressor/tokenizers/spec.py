"""Tokenizer spec strings: `method:key=value,...`, parsed and checked in this one place.

    bytes
    sentencepiece:model=PATH
    gzip:v=256                                   v=256 | 65536: 8- or 16-bit tokens
    static_ac:v=256,fit=PATH[,p=14]              AC with a unigram model fitted on PATH
    ac:v=65536,model=order2,fit=PATH[,p=14]      model=uniform needs no fit
    equal_info_ac:b=16,v=65536,model=order2,fit=PATH[,p=14]
    equal_info_ac:b=16,v=65536,m1=PATH[,p=14]    M1, a checkpoint directory

A spec names everything needed to rebuild a tokenizer, so it is what manifests record.  The
canonical form (`str(Spec)`) orders keys as above and spells out the default precision.  Values
cannot contain `,` or `=`.  Byte models come from `model=NAME` (compressor.models.simple, fitted on
`fit=PATH`) or from a loader registered under its own key (`m1=PATH`), see `register_model_loader`.
"""

from __future__ import annotations

from dataclasses import dataclass

from compressor.codecs.windows import WINDOW_BITS
from compressor.coder.native import DEFAULT_PRECISION
from compressor.models.simple import MODELS
from compressor.tokenizers.errors import SpecError
from compressor.tokenizers.sources import FITTED_MODELS, loader_keys

VOCABS = {256: 8, 65536: 16}  # v -> token bits


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

    def with_options(self, **changes: object) -> Spec:
        """This spec with some options set to other values (checked as any spec)."""
        return Spec.of(self.method, {**dict(self.options), **changes}, str(self))


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
