"""lossgen.rewrite.error_bound: the a priori bounds behind a wider guard, and the
generated kernel that uses one (poisson_nll's gradient e^x - t) against mpmath at the
points where the bound is tightest: just inside the guard."""
import math
import re

import mpmath
import numpy as np
import sympy as sp

import lossgen
from lossgen.rewrite.error_bound import LIBM_EXP, sum_error_ulps, term_bound, widest_ratio
from lossgen.verify.ulps import BUDGET_VALUE, ulp_error

x, y, t = sp.symbols("x y t", real=True)


def test_term_bounds():
    assert term_bound(-t) == 0.0                        # a negation is exact
    assert term_bound(sp.exp(x)) == LIBM_EXP            # libm's exp of an exact input
    assert term_bound(sp.exp(x * y)) is None            # of a rounded one: amplified by |x y|
    assert term_bound(x / y) == 2.0                     # (counted as a product and a reciprocal)
    assert term_bound(sp.Rational(1, 3) * x) == 2.0     # 1/3 is not a double
    assert term_bound(sp.Rational(1, 2) * x) == 1.0
    assert term_bound(sp.log(x)) is None


def test_widest_ratio_of_exp_minus_t():
    terms = (-t, sp.exp(x))
    # (1.1 R + 1) + 1 for the operations below the smallest normal: R = 4 is 6.4 ulps
    assert sum_error_ulps(terms, 4.0) == 1.1 * 4 + 2.0
    assert widest_ratio(terms, (4.0, 8.0, 16.0), BUDGET_VALUE) == 4.0
    assert widest_ratio((sp.exp(x * y), -t), (4.0, 8.0), BUDGET_VALUE) is None


def test_poisson_gradient_within_its_proved_bound_just_inside_the_guard():
    L = lossgen.get("poisson_nll")
    ratio = float(re.search(r"_size <= ([0-9.]+)\*abs", open(L.module.__file__).read()).group(1))
    assert ratio > 2.0                                  # the lowering took the wider guard
    bound = sum_error_ulps((-t, sp.exp(x)), ratio)
    rng = np.random.default_rng(7)
    xs = rng.uniform(-30.0, 30.0, 4000)
    e = np.array([math.exp(v) for v in xs])
    r = rng.uniform(0.9 * ratio, ratio, xs.size)        # sum |terms| / |sum| just below the guard
    sgn = rng.choice([-1.0, 1.0], xs.size)
    ts = e - sgn * 2.0 * e / (r + sgn)                  # (e + t) = r |e - t|
    g = L.grad(xs, ts, reduction="none")
    worst = 0.0
    with mpmath.workdps(60):
        for gv, xv, tv in zip(g, xs, ts):
            worst = max(worst, ulp_error(float(gv), mpmath.exp(mpmath.mpf(xv)) - mpmath.mpf(tv)))
    assert worst <= bound <= BUDGET_VALUE
