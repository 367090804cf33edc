"""lossgen.rewrite.error_bound: the a priori bounds behind a wider guard, and the
generated kernels that use one (poisson_nll's gradient e^x - t; in float32 also
bce_with_logits' (1 - t) sigmoid(x) - t sigmoid(-x)) against mpmath at the points where
the bound is tightest: just inside the guard."""
import math
import re

import mpmath
import numpy as np
import sympy as sp

import lossgen
import pytest

from lossgen.primitives import sigmoid
from lossgen.rewrite.compensated import WIDER_GUARD_RATIOS
from lossgen.rewrite.error_bound import (FLOAT32_BUDGET_IN_DOUBLE_ULPS, LIBM_EXP, SIGMOID, float32_ratio,
                                         split_exp, sum_error_ulps, term_bound, widest_ratio)
from lossgen.verify.accuracy import point_for_dtype
from lossgen.verify.ulps import BUDGET_FLOAT32, BUDGET_VALUE, ulp_error

x, y, t = sp.symbols("x y t", real=True)


def test_term_bounds():
    assert term_bound(-t) == 0.0                        # a negation is exact
    assert term_bound(sp.exp(x)) == LIBM_EXP            # libm's exp of an exact input
    assert term_bound(sp.exp(x * y)) is None            # of a rounded one: amplified by |x y|
    assert term_bound(x / y) == 2.0                     # (counted as a product and a reciprocal)
    assert term_bound(sp.Rational(1, 3) * x) == 2.0     # 1/3 is not a double
    assert term_bound(sp.Rational(1, 2) * x) == 1.0
    assert term_bound(sp.log(x)) is None
    assert term_bound(1 - t) == 1.0                     # one correctly rounded addition
    assert term_bound(1 - t - x) is None                # two: the first rounding may be amplified
    assert term_bound(sigmoid(x)) == SIGMOID
    assert term_bound(sigmoid(x + y)) is None
    assert term_bound((1 - t) * sigmoid(x)) == 1.0 + SIGMOID + 1.0


def test_sigmoid_bound_holds():
    """The runtime's sigmoid against mpmath: within SIGMOID/2 ulps (SIGMOID u relative)
    wherever the result is normal."""
    import numba

    from lossgen.runtime.scalar import sigmoid as rt_sigmoid

    @numba.njit
    def apply(v):
        out = np.empty_like(v)
        for i in range(v.size):
            out[i] = rt_sigmoid(v[i])
        return out
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.uniform(-700, 700, 3000), rng.normal(0, 3, 3000), rng.normal(0, 1e-8, 200)])
    got = apply(v)
    with mpmath.workdps(40):
        worst = max(ulp_error(float(g), 1 / (1 + mpmath.exp(-mpmath.mpf(float(a))))) for g, a in zip(got, v))
    assert worst <= SIGMOID / 2, worst


def test_float32_ratio():
    """A float32 result has 2^29 times a double's error budget: the same sums are plain
    up to a 2^20-fold cancellation there."""
    assert float32_ratio((-t, sp.exp(x)), 64.0) == 2.0 ** 20
    bce = (-y * t * sigmoid(-x), (1 - t) * sigmoid(x))
    assert widest_ratio(bce, (4.0, 8.0, 16.0), BUDGET_VALUE) is None     # doubles: guard 2
    assert float32_ratio(bce, 2.0) == 2.0 ** 20
    assert sum_error_ulps(bce, 2.0 ** 20) <= FLOAT32_BUDGET_IN_DOUBLE_ULPS
    assert float32_ratio((sp.exp(x * y), -t), 2.0) is None               # no bound, no wider guard


def test_widest_ratio_of_exp_minus_t():
    terms = (-t, sp.exp(x))
    assert split_exp(terms) == 1                        # computed as (hi - t) + lo
    # R/32 (e^x's hi + lo within 2^-58) + 2 roundings + 1 for the operations below the
    # smallest normal: R = 128 is 7 ulps, R = 256 would be 11 (a rounded e^x: 1.1 R + 2,
    # R = 4 at most)
    assert sum_error_ulps(terms, 128.0) == 128 / 32 + 2.0 + 1.0
    assert widest_ratio(terms, WIDER_GUARD_RATIOS, BUDGET_VALUE) == 128.0
    assert widest_ratio(terms, (256.0,), BUDGET_VALUE) is None
    assert widest_ratio((sp.exp(x * y), -t), (4.0, 8.0), BUDGET_VALUE) is None
    assert split_exp((sp.exp(x * y), -t)) is None       # a rounded argument: no split
    assert split_exp((sp.exp(x), -t, y)) is None        # three terms: partial sums round


def test_poisson_gradient_within_its_proved_bound_just_inside_the_guard():
    L = lossgen.get("poisson_nll")
    # the double kernels' guard (the float32 one is select(_float32, ratio32, ratio))
    ratio = float(re.search(r"_size <= select\(_float32, [0-9.]+, ([0-9.]+)\)\*abs",
                            open(L.module.__file__).read()).group(1))
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


def _float32_points_inside_the_guard(name, ratio, rng, n):
    """float32 inputs whose gradient's terms cancel by a factor just below ``ratio``."""
    sgn = rng.choice([-1.0, 1.0], n)
    r = rng.uniform(0.5 * ratio, ratio, n)
    if name == "poisson_nll":
        xs = rng.uniform(-30.0, 30.0, n).astype(np.float32).astype(np.float64)
        e = np.exp(xs)
        ts = e - sgn * 2.0 * e / (r + sgn)              # (e + t) = r |e - t|
        return xs, ts
    ts = rng.uniform(0.02, 0.98, n).astype(np.float32).astype(np.float64)
    s = ts * (1.0 + sgn * 2.0 / r)                      # sigmoid(x) - t = +-2 t / r
    xs = np.log(s / (1.0 - s))
    return xs, ts


def _truth(name, xv, tv):
    x, t = mpmath.mpf(xv), mpmath.mpf(tv)
    if name == "poisson_nll":
        return mpmath.exp(x) - t
    return 1 / (1 + mpmath.exp(-x)) - t                 # pos_weight = 1


@pytest.mark.parametrize("name", ["poisson_nll", "bce_with_logits"])
def test_float32_gradient_plain_up_to_its_proved_guard(name):
    """The float32 kernels keep the plain sum up to the float32 guard (the plain pass
    flags no element there) and stay within the float32 budget against mpmath."""
    L = lossgen.get(name)
    text = open(L.module.__file__).read()
    ratio = float(re.search(r"select\(_float32, ([0-9.]+), ", text).group(1))
    assert ratio == 2.0 ** 20
    rng = np.random.default_rng(8)
    xs, ts = _float32_points_inside_the_guard(name, ratio, rng, 3000)
    x32, t32 = xs.astype(np.float32), ts.astype(np.float32)
    params = [v for _, v in L.params]
    plain = point_for_dtype(L.module.point_grad_plain, np.float32)
    flagged = sum(plain(float(a), float(b), *params)[1] for a, b in zip(x32, t32))
    assert flagged <= 0.05 * xs.size, f"{flagged} of {xs.size} elements went to the double-double pass"
    g = L.grad(x32, t32, reduction="none")
    assert g.dtype == np.float32
    worst = 0.0
    with mpmath.workdps(60):
        for gv, xv, tv in zip(g, x32, t32):
            worst = max(worst, ulp_error(float(gv), _truth(name, float(xv), float(tv)), np.float32))
    assert worst <= BUDGET_FLOAT32, worst
