"""Influence bounds sup|psi|, redescending, Lipschitz and smoothness constants.

Reference values are the mathematics, computed here independently with mpmath where
they are not obvious: e.g. for Cauchy, psi(r) = r / (1 + (r/c)^2) peaks at r = c with
value c/2; for Tukey's biweight psi(r) = r (1 - (r/c)^2)^2 peaks at r = c/sqrt(5).
"""
from __future__ import annotations

import math

import mpmath
import pytest
import sympy as sp

from lossgen.analysis.budget import Deadline
from lossgen.analysis.influence import influence
from lossgen.analysis.problem import Problem
from lossgen.catalog import spec_for


def infl(name, params=None, kinks=None):
    return influence(Problem.build(spec_for(name), params), Deadline(30), kinks)


def same(expr_text: str, expected: sp.Expr, names) -> bool:
    """Our printed SymPy expression equals ``expected`` (parsed with explicit symbols)."""
    got = sp.parse_expr(expr_text, local_dict={n: sp.Symbol(n, positive=True) for n in names})
    return sp.simplify(got - expected) == 0


@pytest.mark.parametrize("name, expected, value", [
    ("mse", "oo", math.inf),
    ("mae", "1", 1.0),
    ("log_cosh", "1", 1.0),
    ("exponential", "oo", math.inf),
    ("logistic", "1", 1.0),
    ("hinge", "1", 1.0),
])
def test_constant_bounds(name, expected, value):
    r = infl(name)
    assert r["influence_bound"] == expected
    assert r["influence_bound_value"] == value
    assert r["influence_bounded"] is (not math.isinf(value))
    assert r["lipschitz"] == expected
    assert r["influence_method"].startswith("symbolic")


def test_huber_and_pseudo_huber_bound_is_delta():
    d = sp.Symbol("delta", positive=True)
    for name in ("huber", "pseudo_huber"):
        r = infl(name)
        assert same(r["influence_bound"], d, ["delta"]), r["influence_bound"]
        assert r["influence_bound_value"] == pytest.approx(1.0)
        assert r["influence_kind"] == "bounded" and r["redescending"] is False
    assert infl("huber", {"delta": 1.345})["influence_bound_value"] == pytest.approx(1.345)


def test_cauchy_bound_is_c_over_2():
    c = sp.Symbol("c", positive=True)
    r = infl("cauchy")
    assert same(r["influence_bound"], c / 2, ["c"]), r["influence_bound"]
    # independent: maximise c^2 r/(c^2 + r^2) over r with mpmath at the default c
    cv = mpmath.mpf("2.3849")
    rstar = mpmath.findroot(lambda t: mpmath.diff(lambda u: cv**2 * u / (cv**2 + u**2), t), 1.0)
    assert r["influence_bound_value"] == pytest.approx(float(cv**2 * rstar / (cv**2 + rstar**2)), rel=1e-9)
    assert r["redescending"] is True


def test_tukey_is_redescending_with_its_peak_at_c_over_sqrt5():
    r = infl("tukey")
    assert r["redescending"] is True and r["influence_kind"] == "redescending"
    c = mpmath.mpf("4.685")
    x = c / mpmath.sqrt(5)
    assert r["influence_bound_value"] == pytest.approx(float(x * (1 - (x / c) ** 2) ** 2), rel=1e-9)


def test_logistic_bound_is_over_the_margin():
    r = infl("logistic")
    assert r["influence_variable"] == "target*pred"
    assert r["influence_bound"] == "1" and r["redescending"] is False


def test_welsch_and_geman_mcclure_formulas():
    c = sp.Symbol("c", positive=True)
    assert same(infl("welsch")["influence_bound"], c / sp.sqrt(2 * sp.E), ["c"])
    assert same(infl("geman_mcclure")["influence_bound"], 3 * sp.sqrt(3) * c / 16, ["c"])


def test_fixed_parameter_gives_a_number():
    r = infl("cauchy", {"c": 3.0})
    assert sp.nsimplify(r["influence_bound"]) == sp.Rational(3, 2)


def test_smoothness_constants():
    assert infl("mse")["smoothness"] == "2"
    assert infl("huber")["smoothness"] == "1"
    assert infl("logistic")["smoothness"] == "1/4"
    kinked = infl("mae", kinks=True)
    assert kinked["smoothness"] == "oo" and kinked["smoothness_value"] == math.inf


def test_numeric_fallback_is_labelled():
    r = infl("focal")
    assert r["influence_bounded"] is True
    assert r["influence_method"].startswith("numeric")
    assert 0 < r["influence_bound_value"] < 1
