"""The report's decision rule over seeds, on hand-made numbers."""

from __future__ import annotations

import math

import pytest

from experiment.report import findings
from experiment.stats import NOT_REPRODUCED, REPRODUCED, UNDECIDED, combine, estimate


def test_estimate_is_mean_sd_and_standard_error():
    e = estimate([1.0, 2.0, 3.0, 6.0])
    assert (e.mean, e.n) == (3.0, 4)
    assert e.sd == pytest.approx(math.sqrt(14 / 3))  # squares 4 + 1 + 0 + 9 over n - 1
    assert e.se == pytest.approx(math.sqrt(14 / 3) / 2)
    with pytest.raises(ValueError):
        estimate([])


@pytest.mark.parametrize(
    ("values", "above", "below"),
    [
        ([0.02, 0.03], REPRODUCED, NOT_REPRODUCED),  # mean 0.025, 2 SE 0.01: 0.015 > 0
        ([0.01, 0.04], UNDECIDED, UNDECIDED),  # mean 0.025, 2 SE 0.03: the interval holds 0
        ([-0.02, -0.03], NOT_REPRODUCED, REPRODUCED),
        ([-0.01, 0.01], UNDECIDED, UNDECIDED),
        ([0.5], UNDECIDED, UNDECIDED),  # one seed: no error bar, nothing decided
        ([0.01, 0.01, 0.01], REPRODUCED, NOT_REPRODUCED),  # no spread: the sign decides
    ],
)
def test_the_rule_decides_by_two_standard_errors(values, above, below):
    e = estimate(values)
    assert (e.above_zero(), e.below_or_zero()) == (above, below)


def test_a_finding_of_several_claims():
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, UNDECIDED]) == UNDECIDED
    assert combine([UNDECIDED, NOT_REPRODUCED, REPRODUCED]) == NOT_REPRODUCED
    assert combine([]) == UNDECIDED


def row(method: str, uniform: float, seeds: list[float]) -> dict:
    return {
        "method": method,
        "eval": {"bits_per_byte": sum(seeds) / len(seeds), "uniform_bits_per_byte": uniform},
        "seeds": [{"seed": i, "eval": {"bits_per_byte": b}} for i, b in enumerate(seeds)],
    }


def test_findings_on_hand_made_rows():
    rows = [
        row("AC[v=65k]", 4.0, [4.02, 4.04]),  # gains -0.5%, -1%: mean -0.75%, 2 SE 0.5%: at most 0
        row("EqualInfoAC[b=16, v=256]", 4.0, [3.9, 3.92]),  # gains 2.5%, 2%: clear
        row("EqualInfoAC[b=16, v=65k]", 4.0, [3.5, 3.95]),  # paired differences 0.4, -0.03: spread too wide
    ]
    verdicts = {name[:3]: verdict for name, verdict, _ in findings(rows)}
    assert verdicts == {"(1)": REPRODUCED, "(2)": UNDECIDED, "(3)": UNDECIDED}
    # (2): v=65k's gains are 12.5% and 1.25%: mean 6.9%, 2 SE 11.25%: undecided for it, so for the finding
    one_seed = [row(r["method"], 4.0, [r["seeds"][0]["eval"]["bits_per_byte"]]) for r in rows]
    assert {v for _, v, _ in findings(one_seed)} == {UNDECIDED}
    figures = dict((name[:3], f) for name, _, f in findings(rows))
    assert "4.030 bits/byte (uniform 4.000), gain -0.75% ± 0.50% (2 SE, 2 seeds)" in figures["(1)"]
    assert "paired difference +0.1850 ± 0.4300 (2 SE, 2 seeds) bits/byte" in figures["(3)"]


def ladder_row(method: str, uniform: float, sizes: dict[str, list[float]]) -> dict:
    per_size = [{"size": z, **row(method, uniform, seeds)} for z, seeds in sizes.items()]
    return {**per_size[-1], "sizes": per_size}


def test_the_ladder_finding_on_hand_made_rows():
    rows = [
        ladder_row("AC[v=65k]", 4.0, {"tiny": [4.0, 4.01], "400k": [4.02, 4.04]}),  # -0.75% ± 0.5% at 400k
        ladder_row("EqualInfoAC[b=16, v=65k]", 4.0, {"tiny": [3.9, 3.92], "400k": [3.6, 3.64]}),  # +7.25% ± 0.5%
    ]
    from experiment.report import ladder_findings

    [(name, verdict, figures)] = ladder_findings(rows)
    assert name.startswith("(5)") and verdict == REPRODUCED
    assert "EqualInfoAC[b=16, v=65k]: gain tiny -> 400k grows by +7.25% ± 0.50% (2 SE, 2 seeds)" in figures
    rows[1]["sizes"][-1]["seeds"][1]["eval"]["bits_per_byte"] = 3.95  # growth +7.5%, -0.75%: undecided
    assert ladder_findings(rows)[0][1] == UNDECIDED
    rows[0]["sizes"][-1]["seeds"][0]["eval"]["bits_per_byte"] = 3.8  # AC learns: gains +5%, +5.25%
    rows[0]["sizes"][-1]["seeds"][1]["eval"]["bits_per_byte"] = 3.79
    assert ladder_findings(rows)[0][1] == NOT_REPRODUCED
    assert ladder_findings([{**r, "sizes": r["sizes"][-1:]} for r in rows]) == []  # one size: no ladder
