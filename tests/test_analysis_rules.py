"""The building blocks alone: DCP rules, interval enclosures, branch-and-bound, signs,
Dirac weights and Piecewise regions."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from lossgen.analysis.dcp import dcp_curvature
from lossgen.analysis.bnb import prove_nonnegative
from lossgen.analysis.intervals import lower_upper
from lossgen.analysis.kinks import breakpoints, dirac_split, regions
from lossgen.analysis.signs import sign_of
from lossgen.primitives import PRIMITIVES, log_sigmoid, logcosh, sigmoid, softplus

x, y = sp.symbols("x y", real=True)
c = sp.Symbol("c", positive=True)
k = sp.Symbol("k", real=True)
R = {x: (-math.inf, math.inf), y: (-math.inf, math.inf), c: (0.0, math.inf), k: (-math.inf, math.inf)}


@pytest.mark.parametrize("expr, curv", [
    (sp.exp(x), "convex"), (sp.exp(-x), "convex"), (sp.log(1 + sp.exp(x)), "unknown"),
    (softplus(-2 * x + 1), "convex"), (log_sigmoid(x), "concave"), (logcosh(x - 3), "convex"),
    (sp.sqrt(1 + (x / c) ** 2), "convex"), (sp.Max(0, 1 - x) ** 2, "convex"), ((x - 1) ** 2, "convex"),
    (-x ** 2, "concave"), (sp.Min(x, 0), "concave"), (sigmoid(x), "unknown"), (x * y, "affine"),
    (k * x ** 2, "unknown"), (c * x ** 2 + sp.Abs(x), "convex"), (x ** 3, "unknown"), (3 * x + 2, "affine"),
])
def test_dcp_rules(expr, curv):
    assert dcp_curvature(expr, [x], R) == curv


def test_dcp_joint_and_constant_signs():
    t = sp.Symbol("t", real=True)
    rng = {**R, t: (0.0, 1.0)}
    assert dcp_curvature(t * softplus(-x) + (1 - t) * softplus(x), [x], rng) == "convex"  # 1 - t >= 0 by intervals
    assert dcp_curvature(softplus(x - y), [x, y], R) == "convex"
    assert dcp_curvature(x * y, [x, y], R) == "unknown"


@pytest.mark.parametrize("expr", [
    x ** 2 - 3 * x + sp.exp(-x), sigmoid(x) * sigmoid(-x), softplus(x) - sp.Abs(x), sp.tanh(x) ** 2,
    sp.Piecewise((x ** 2, x < 1), (2 * x - 1, True)), logcosh(x) / (1 + x ** 2), sp.Max(x, 0.5) * sp.sign(x),
])
def test_enclosures_contain_every_value(expr):
    rng = np.random.default_rng(1)
    for lo, hi in [(-3.0, -1.0), (-0.5, 2.0), (0.0, 10.0)]:
        a, b = lower_upper(expr, {x: (lo, hi)})
        f = sp.lambdify(x, expr, modules=[{n: cls.mpmath for n, cls in PRIMITIVES.items()}, "mpmath"])
        for v in rng.uniform(lo, hi, 50):
            val = f(mpmath.mpf(v))
            assert a <= val <= b


def test_enclosures_over_infinite_intervals():
    a, b = lower_upper(1 - sp.tanh(x) ** 2, {x: (-math.inf, math.inf)})
    assert a >= 0 and b <= 1
    a, _ = lower_upper(sigmoid(x) * sigmoid(-x), {x: (-math.inf, math.inf)})
    assert a >= 0


def test_branch_and_bound():
    assert prove_nonnegative(x ** 2 - x + 1, {x: (-10.0, 10.0)})[0] == "proved"
    # the tails [R, oo) need x = 1/u: (1 - u + u**2)/u**2, not oo - oo
    assert prove_nonnegative(x ** 2 - x + 1, {x: (-math.inf, math.inf)})[0] == "proved"
    status, info = prove_nonnegative(x ** 2 - 1, {x: (-3.0, 3.0)})
    assert status == "negative" and -1 < info["point"][x] < 1
    # tangent at 0: never settled by enclosures, and never claimed
    assert prove_nonnegative(x ** 2 + 2 * sp.cos(x) - 2, {x: (-1.0, 1.0)}, max_boxes=200)[0] == "unknown"


def test_signs():
    r = sp.Symbol("r", real=True)
    f2 = (1 - r ** 2 / (c ** 2 * (1 + r ** 2 / c ** 2))) / sp.sqrt(1 + r ** 2 / c ** 2)   # pseudo-Huber f''
    assert sign_of(f2, {r: R[x], c: R[c]}, slow=True) == "pos"
    assert sign_of(1 - sp.tanh(r) ** 2, {r: R[x]}) in ("nonneg", "pos")
    assert sign_of(r ** 2 - 1, {r: R[x]}) is None


def test_dirac_split_and_piecewise_regions():
    smooth, terms = dirac_split(sp.diff(sp.Abs(x) + sp.Max(0, 1 - x) ** 2, x, 2))
    assert (2, x) in terms
    regs = regions(sp.Piecewise((x ** 2 / 2, sp.Abs(x) <= c), (c * (sp.Abs(x) - c / 2), True)), x, sp.Reals)
    assert [r for _, r in regs][0] == sp.Interval(-c, c)
    bps = breakpoints(regs, sp.Reals)
    assert sorted(b for b, *_ in bps) == [-c, c] or sorted((b for b, *_ in bps), key=str) == sorted([-c, c], key=str)
