"""The branch-free expm1 and tanh of lossgen.runtime.vecmath and logcosh of
lossgen.runtime.scalar against mpmath.

Ground truth: mpmath at 120 bits.  Errors are measured in ulps of the exact value (of
max(|exact|, smallest normal)), over random points in several ranges: around the
thresholds of each algorithm, tiny and subnormal arguments, huge ones; special values
against IEEE 754 as NumPy gives them.
"""
import math

import mpmath
import numpy as np
import pytest

from lossgen.primitives import logcosh as logcosh_primitive
from lossgen.runtime import scalar, vecmath
from test_vecmath import _apply, _points, _ulps

LN2 = math.log(2.0)
HUGE = 1.7976931348623157e308


def _signed_log_uniform(rng, lo, hi, n):
    """n values of magnitude 10**U(lo, hi), of either sign."""
    return 10.0 ** rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)


def _logcosh_exact(x):
    """log cosh x at the working precision: log1p(2 sinh(x/2)^2) (no cancellation near
    0), and |x| - ln 2 + log1p(e^{-2|x|}) beyond 40 (cosh of 1e300 is out of reach)."""
    a = abs(x)
    if a > 40:
        return a - mpmath.log(2) + mpmath.log1p(mpmath.exp(-2 * a))
    return mpmath.log1p(2 * mpmath.sinh(a / 2) ** 2)


def _assert_within(f, exact, x, bound):
    u = _ulps(_apply(f, x), x, exact)
    assert u.max() <= bound, (u.max(), x[u.argmax()])
    return u.max()


def test_expm1_within_one_ulp():
    rng = np.random.default_rng(21)
    small = 0.25 * LN2          # the polynomial alone below, the table above
    x = _points(rng, rng.uniform(-small, small, 2000), rng.uniform(-1, 1, 2000), rng.uniform(-3, 3, 1000),
                rng.uniform(-40, 40, 1000), rng.uniform(-745, 709.78, 2000),
                rng.uniform(-0.75, -0.65, 500),       # m = -1 / -2: 1 subtracted from e^x below
                rng.uniform(36.0, 37.5, 500),         # m = 52 / 53: 2^-m joins the small terms
                small + rng.normal(0, 1e-3, 300), -small + rng.normal(0, 1e-3, 300),
                _signed_log_uniform(rng, -323, 0, 1500),
                [small, -small, np.nextafter(small, 0), 5e-324, -5e-324, 1e-300, -1e-300, 1e-17, 709.78, -37.5])
    assert _assert_within(vecmath.expm1, mpmath.expm1, x, 0.8) > 0.3   # the comparison ran


def test_expm1_special_values():
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.782712893384, 709.7827128933841, 710.0, 800.0,
                   -38.0, -40.0, -40.5, -745.2, -1000.0, 5e-324, -5e-324, 1e-300, -1e-300, 2.0 ** -60])
    got = _apply(vecmath.expm1, sp)
    with np.errstate(over="ignore"):
        want = np.expm1(sp)
    np.testing.assert_array_equal(got, want)
    assert [math.copysign(1.0, v) for v in got[:2]] == [1.0, -1.0]


def test_tanh_within_two_ulps():
    rng = np.random.default_rng(22)
    x = _points(rng, rng.uniform(-0.5, 0.5, 2000), rng.uniform(-3, 3, 2000), rng.uniform(-20, 20, 2000),
                0.55 + rng.normal(0, 1e-3, 300), rng.uniform(18.5, 19.5, 300), _signed_log_uniform(rng, -323, 0, 1500),
                [5e-324, -5e-324, 1e-300, 1e-8, 0.55, np.nextafter(0.55, 1.0), 19.1, -19.1, 19.2])
    assert _assert_within(vecmath.tanh, mpmath.tanh, x, 1.45) > 0.3


def test_tanh_special_values():
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 20.0, -20.0, 710.0, -710.0, 1e300, -HUGE,
                   5e-324, -5e-324, 1e-300, -1e-300, 1e-20])
    got = _apply(vecmath.tanh, sp)
    np.testing.assert_array_equal(got, np.tanh(sp))
    assert [math.copysign(1.0, v) for v in got[:2]] == [1.0, -1.0]


def test_logcosh_within_1_6_ulps():
    rng = np.random.default_rng(23)
    x = _points(rng, rng.uniform(-1, 1, 3000), rng.uniform(0.9, 1.5, 1000), rng.uniform(-40, 40, 2000),
                rng.uniform(1.3, 1.45, 300),          # a - LN2_HI exact up to 1.386, rounded above
                _signed_log_uniform(rng, -323, 308, 3000),
                _signed_log_uniform(rng, -163, -150, 500),   # x^2/2 subnormal
                [1.0, -1.0, np.nextafter(1.0, 2.0), 5e-324, 1e-310, 1e-300, 1e-160, 2e-154, 1e300, -1e308])
    assert _assert_within(scalar.logcosh, _logcosh_exact, x, 1.6) > 0.3


def test_logcosh_special_values_and_underflow():
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan])
    got = _apply(scalar.logcosh, sp)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.log(np.cosh(sp)))
    assert math.copysign(1.0, got[1]) == 1.0
    # x^2/2 below the smallest subnormal rounds to 0; huge x gives |x| - ln 2 = |x|
    np.testing.assert_array_equal(_apply(scalar.logcosh, np.array([5e-324, -1e-170, 1e300, -HUGE])),
                                  [0.0, 0.0, 1e300, HUGE])


def test_logcosh_numpy_twin_follows_the_kernel():
    """Primitive.numpy has the kernel's algorithm (the same series, log1p and split of
    ln 2): bit for bit where a = |x| <= 1; above, NumPy's exp may round differently."""
    rng = np.random.default_rng(24)
    x = _points(rng, rng.normal(0, 2, 3000), _signed_log_uniform(rng, -323, 308, 2000), [0.0, -0.0, np.inf, np.nan])
    got = logcosh_primitive.numpy(x)
    want = _apply(scalar.logcosh, x)
    near = np.abs(x) <= 1.0
    np.testing.assert_array_equal(got[near], want[near])
    np.testing.assert_allclose(got, want, rtol=2.3e-16, atol=0)


@pytest.mark.parametrize("name", ["expm1", "tanh"])
def test_plain_python_twins_agree_with_compiled_code(name):
    """Numba's CUDA simulator runs the same source as plain Python: bit for bit."""
    rng = np.random.default_rng(25)
    x = _points(rng, rng.normal(0, 30, 300), _signed_log_uniform(rng, -320, 2.8, 300),
                [0.0, -0.0, np.nan, np.inf, -np.inf, 709.0, -800.0, 0.1732, 0.55, 36.7])
    f = getattr(vecmath, name)
    compiled = _apply(f, x)
    with np.errstate(all="ignore"):
        python = np.array([f.py_func(float(v)) for v in x])
    np.testing.assert_array_equal(compiled, python)
