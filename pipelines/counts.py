"""Counts that add up field by field: over batches or ranges, by Beam's CombineGlobally(total)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Summed:
    """A dataclass of numbers whose instances add field by field."""

    def __add__(self, other: Summed) -> Summed:
        return type(self)(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @classmethod
    def total(cls, items) -> Summed:
        return sum(items, cls())

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
