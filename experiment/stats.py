"""How the report decides a finding from several seeds: a mean, its standard error, and a rule.

A claim "x > 0" (a gain over uniform, or a paired difference between two methods, seed by seed)
is *reproduced* when the mean minus two standard errors is above 0, *not reproduced* when the
mean plus two standard errors is at most 0, and *undecided at this scale* otherwise, and always
with one seed, which has no error bar.  A finding made of several claims is reproduced when
all are, not reproduced when any is not, and undecided otherwise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

REPRODUCED, NOT_REPRODUCED, UNDECIDED = "reproduced", "not reproduced", "undecided at this scale"
RULE = (
    "a claim x > 0 over n seeds (SE = sd / sqrt(n)) is reproduced when mean - 2 SE > 0, not reproduced when "
    "mean + 2 SE <= 0, undecided otherwise and with one seed; a finding of several claims is reproduced when "
    "all are, not reproduced when any is not"
)


@dataclass(frozen=True)
class Estimate:
    mean: float
    sd: float  # sample standard deviation; 0 for one value
    n: int

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n > 1 else math.inf

    def above_zero(self) -> str:
        """The rule's verdict on the claim that the true value is above 0."""
        if self.mean - 2 * self.se > 0:
            return REPRODUCED
        if self.mean + 2 * self.se <= 0:
            return NOT_REPRODUCED
        return UNDECIDED

    def below_or_zero(self) -> str:
        """The verdict on the opposite claim (at most 0)."""
        return Estimate(-self.mean, self.sd, self.n).above_zero()

    def show(self, form: str = "{:+.4f}") -> str:
        """The mean and two standard errors, e.g. `+0.0120 ± 0.0031 (2 SE, 2 seeds)`."""
        if self.n == 1:
            return form.format(self.mean) + " (1 seed)"
        return f"{form.format(self.mean)} ± {form.format(2 * self.se).lstrip('+')} (2 SE, {self.n} seeds)"

    def __str__(self) -> str:
        return self.show()


def estimate(values: Sequence[float]) -> Estimate:
    if not values:
        raise ValueError("an estimate needs one value at least")
    return Estimate(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))


def combine(verdicts: Sequence[str]) -> str:
    """A finding of several claims: reproduced when all are, not reproduced when any is not."""
    if any(v == NOT_REPRODUCED for v in verdicts):
        return NOT_REPRODUCED
    return REPRODUCED if verdicts and all(v == REPRODUCED for v in verdicts) else UNDECIDED
