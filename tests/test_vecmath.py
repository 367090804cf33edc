"""The branch-free exp, log and log1p of lossgen.runtime.vecmath against mpmath.

Ground truth: mpmath at 120 bits.  Errors are measured in ulps of the exact value (the
bound error_bound.LIBM_EXP assumes for exp: 0.52 ulp, i.e. 1.04 u relative, over the
normal range), special values against IEEE 754 as NumPy gives them.
"""
import math

import mpmath
import numba
import numpy as np
import pytest

from lossgen.rewrite.error_bound import LIBM_EXP
from lossgen.runtime import vecmath

SMALLEST_NORMAL = 2.2250738585072014e-308


@numba.njit
def _apply(f, x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = f(x[i])
    return out


def _ulps(got, x, exact) -> np.ndarray:
    """|got - exact(x)| in ulps of max(|exact|, smallest normal), from mpmath."""
    with mpmath.workprec(120):
        out = np.empty(len(x))
        for i, (g, v) in enumerate(zip(got, x)):
            e = exact(mpmath.mpf(float(v)))
            scale = max(abs(float(e)), SMALLEST_NORMAL)
            out[i] = float(abs(mpmath.mpf(float(g)) - e) / np.spacing(scale))
    return out


def _points(rng, *parts):
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])


def test_exp_within_half_ulp_and_a_bit():
    rng = np.random.default_rng(11)
    x = _points(rng, rng.uniform(-708.3, 709.78, 6000), rng.uniform(-1, 1, 3000), rng.normal(0, 1e-3, 1000),
                np.log(np.arange(1, 2000)), [0.0, 1e-300, -1e-300, 709.78, -708.39])
    u = _ulps(_apply(vecmath.exp, x), x, mpmath.exp)
    assert u.max() <= 0.52, (u.max(), x[u.argmax()])
    # the a-priori error bounds of guarded sums take this as exp's relative error
    assert 2 * 0.52 <= LIBM_EXP


def test_exp_subnormal_results_and_special_values():
    rng = np.random.default_rng(12)
    x = rng.uniform(-745.13, -708.4, 2000)
    u = _ulps(_apply(vecmath.exp, x), x, mpmath.exp)
    assert u.max() <= 1.0, (u.max(), x[u.argmax()])
    sp = np.array([0.0, -0.0, 709.782712893384, 709.7827128933841, -745.1332191019411, -745.14, -800.0, 800.0,
                   np.inf, -np.inf, np.nan])
    got = _apply(vecmath.exp, sp)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(sp))


@pytest.mark.parametrize("name", ["log", "log1p"])
def test_log_and_log1p_within_one_ulp(name):
    rng = np.random.default_rng(13)
    if name == "log":
        x = _points(rng, np.exp(rng.uniform(-744, 709, 5000)), rng.uniform(0.5, 2.0, 3000),
                    1.0 + rng.normal(0, 1e-6, 1000), [5e-324, 1e-310, SMALLEST_NORMAL, 1.0, 2.0, 1.7976931348623157e308])
        exact = mpmath.log
    else:
        x = _points(rng, rng.uniform(-1, 1, 4000), np.exp(rng.uniform(-740, 709, 3000)),
                    -np.exp(rng.uniform(-740, -1e-9, 2000)), rng.normal(0, 1e-8, 1000), [5e-324, -5e-324, 1e-300])
        exact = mpmath.log1p
    f = getattr(vecmath, name)
    u = _ulps(_apply(f, x), x, exact)
    assert u.max() < 1.0, (u.max(), x[u.argmax()])


@pytest.mark.parametrize("name", ["log", "log1p"])
def test_log_special_values(name):
    sp = np.array([0.0, -0.0, -1.0, -2.0, -1e-300, 5e-324, np.inf, -np.inf, np.nan])
    f = getattr(vecmath, name)
    got = _apply(f, sp)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = getattr(np, name)(sp)
    np.testing.assert_array_equal(got, want)
    # the sign of a zero result is kept
    assert [math.copysign(1.0, v) for v in got[:2]] == [math.copysign(1.0, v) for v in want[:2]]


def test_plain_python_twins_agree_with_compiled_code():
    """Numba's CUDA simulator runs the same source as plain Python (bit casts through
    struct): it must give the compiled results bit for bit."""
    rng = np.random.default_rng(14)
    x = _points(rng, rng.normal(0, 30, 300), np.exp(rng.uniform(-740, 700, 200)), [0.0, -0.0, np.nan, np.inf])
    for name in ("exp", "log", "log1p"):
        f = getattr(vecmath, name)
        compiled = _apply(f, x)
        with np.errstate(all="ignore"):
            python = np.array([f.py_func(float(v)) for v in x])
        np.testing.assert_array_equal(compiled, python, err_msg=name)


def test_select_and_bit_casts():
    assert vecmath.select(True, 1.0, 2.0) == 1.0
    assert vecmath.bits_float(vecmath.float_bits(-2.5)) == -2.5
    assert vecmath.float_bits(1.0) == 0x3FF0000000000000
    assert vecmath.pow2(-1022) == SMALLEST_NORMAL


@numba.njit
def _apply_hilo(x):
    hi, lo = np.empty_like(x), np.empty_like(x)
    for i in range(x.shape[0]):
        hi[i], lo[i] = vecmath.exp_hilo(x[i])
    return hi, lo


def test_exp_hilo_is_exp_with_its_low_part():
    """hi is exp(x) bit for bit; hi + lo is e^x within EXP_HILO_ERROR (2^-58) relative
    where lo is normal too (e^x above 2^-960), and within that plus 2^-1074 absolute
    below, where lo or hi is rounded to the subnormal grid (the bound behind e^x - t's
    128-fold guard in rewrite/error_bound.py, whose unit is at least 2^-1074)."""
    rng = np.random.default_rng(13)
    x = _points(rng, rng.uniform(-708.3, 709.78, 6000), rng.uniform(-1, 1, 6000), rng.normal(0, 1e-6, 1000),
                np.log(np.arange(1, 4000)), rng.uniform(-745.1, -708.4, 500), [0.0, -0.0, 709.78, -745.13])
    hi, lo = _apply_hilo(x)
    np.testing.assert_array_equal(hi, _apply(vecmath.exp, x))
    worst_rel = worst_abs = 0.0
    with mpmath.workprec(160):
        for v, h, l in zip(x, hi, lo):
            e = mpmath.exp(mpmath.mpf(float(v)))
            err = abs(mpmath.mpf(float(h)) + mpmath.mpf(float(l)) - e)
            if e >= 2.0 ** -960:
                worst_rel = max(worst_rel, float(err / e))
            else:
                worst_abs = max(worst_abs, float(err - vecmath.EXP_HILO_ERROR * e))
    assert worst_rel <= vecmath.EXP_HILO_ERROR, math.log2(worst_rel)
    assert worst_abs <= 2.0 ** -1074, worst_abs
    sp = np.array([np.nan, np.inf, -np.inf, 709.79, 800.0, -745.14, -800.0])
    hi, lo = _apply_hilo(sp)
    np.testing.assert_array_equal(hi, _apply(vecmath.exp, sp))
    assert (lo == 0.0).all()
