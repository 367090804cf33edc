"""Smoothness: kinks with their derivative jumps, breakpoints, continuity classes.

The expected values are elementary: |r| has a kink at 0 where the derivative jumps
from -1 to 1 (jump 2); max(0, 1 - z) jumps from -1 to 0 at z = 1; Huber's second
derivative jumps at |r| = delta (C1); Tukey's biweight is C2 (psi and psi' vanish at
|r| = c from both sides, psi'' does not); the zero-one loss jumps itself.
"""
from __future__ import annotations

import math

import pytest

from lossgen.analysis.budget import Deadline
from lossgen.analysis.problem import Problem
from lossgen.analysis.smoothness import smoothness
from lossgen.catalog import spec_for


def smooth(name, params=None):
    return smoothness(Problem.build(spec_for(name), params), Deadline(30))


@pytest.mark.parametrize("name, cls", [("mse", "C∞"), ("logistic", "C∞"), ("cauchy", "C∞"), ("huber", "C1"),
                                       ("smooth_l1", "C1"), ("squared_hinge", "C1"), ("tukey", "C2"),
                                       ("mae", "C0"), ("hinge", "C0"), ("zero_one", "discontinuous")])
def test_continuity_class(name, cls):
    assert smooth(name)["continuity"] == cls


def test_mae_kink_at_zero_residual_with_jump_2():
    s = smooth("mae")
    assert s["differentiable"] is False
    (k,) = s["kinks"]
    assert k["at"] == "pred - target = 0" and k["jump"] == "2" and k["jump_value"] == 2.0


def test_hinge_kink_in_the_margin():
    (k,) = smooth("hinge")["kinks"]
    assert k["at"] == "target*pred = 1" and k["jump_value"] == pytest.approx(1.0)


def test_huber_breakpoints_are_at_plus_minus_delta():
    s = smooth("huber", {"delta": 2.0})
    assert s["differentiable"] is True and not s["kinks"]
    assert sorted(b["at_value"] for b in s["breakpoints"]) == [-2.0, 2.0]
    assert {b["order"] for b in s["breakpoints"]} == {2}


def test_ramp_has_a_concave_kink_at_s():
    s = smooth("ramp")
    jumps = {k["at_value"]: k["jump_value"] for k in s["kinks"]}
    assert jumps[-1.0] == pytest.approx(-1.0)     # at z = s = -1: slope -1 -> 0 going left, i.e. a drop
    assert jumps[1.0] == pytest.approx(1.0)


def test_bce_clamp_is_a_kink_at_exp_minus_100():
    s = smooth("bce")
    (k,) = s["kinks"]
    assert k["at_value"] == pytest.approx(math.exp(-100), rel=1e-12)
    assert k["jump_value"] == pytest.approx(-math.exp(100), rel=1e-9)   # target 1: slope 0 -> -1/p


def test_zero_one_is_discontinuous():
    s = smooth("zero_one")
    (k,) = s["kinks"]
    assert k["discontinuous"] is True and k["jump_value"] == pytest.approx(-1.0)
