"""Compensated (double-double) forms, plain and guarded, against mpmath.

* A double-double program of a cancelling expression is accurate where the plain float
  expression is not (its measurement, ``evaluate``, agrees with mpmath to 1 ulp).
* A guarded form takes the plain sum where its terms do not cancel (bit for bit the
  plain value) and the double-double program where they do (mpmath to 1 ulp), in the
  NumPy measurement and in the generated kernel alike (poisson_nll's gradient
  exp(pred) - target, which the lowering guards).  Its plain sum is *split*: e^x as
  hi + lo (runtime.vecmath.exp_hilo), then (hi - t) + lo.
"""
import math

import mpmath
import numba
import numpy as np
import sympy as sp

import lossgen
from lossgen.runtime.vecmath import exp_hilo
from lossgen.rewrite.compensated import GUARD_RATIO, Compensated, evaluate, evaluate_marked, guarded, program
from lossgen.verify.ulps import ulp_error

x, t = sp.symbols("x t", real=True)
EXPR = sp.exp(x) - t


@numba.njit
def _exp_hilo(v):
    hi, lo = np.empty_like(v), np.empty_like(v)
    for i in range(v.shape[0]):
        hi[i], lo[i] = exp_hilo(v[i])
    return hi, lo


def _truth(xv, tv):
    with mpmath.workdps(60):
        return mpmath.exp(mpmath.mpf(xv)) - mpmath.mpf(tv)


def _points():
    rng = np.random.default_rng(4)
    tv = rng.uniform(0.5, 20.0, 200)
    near = np.log(tv) * (1 + rng.uniform(-1e-9, 1e-9, 200))       # exp(x) ~ t: cancels
    far = np.log(tv) + rng.choice([-3.0, 3.0], 200)                # exp(x) far from t
    return np.concatenate([near, far]), np.concatenate([tv, tv])


def test_program_is_accurate_where_the_plain_form_cancels():
    xs, ts = _points()
    dd = evaluate(program(EXPR), (x, t), [xs, ts])
    plain = np.exp(xs) - ts
    err_dd = max(ulp_error(float(v), _truth(a, b)) for v, a, b in zip(dd, xs, ts))
    err_plain = max(ulp_error(float(v), _truth(a, b)) for v, a, b in zip(plain, xs, ts))
    assert err_dd <= 1.0
    assert err_plain > 1e3          # the cancellation the program removes


def test_guarded_form_takes_the_plain_sum_only_where_it_does_not_cancel():
    node = guarded(EXPR)
    assert isinstance(node, Compensated) and node.guard == GUARD_RATIO
    assert guarded(sp.exp(x) * t) is None                # only sums are guarded
    xs, ts = _points()
    got = evaluate_marked(node, (x, t), [xs, ts])
    hi, lo = _exp_hilo(xs)
    terms = [-ts, hi]                                    # (a two-term sum is exact in either order)
    plain_sum = terms[0] + terms[1]
    plain_ok = np.abs(terms[0]) + np.abs(terms[1]) <= GUARD_RATIO * np.abs(plain_sum)
    assert plain_ok.any() and (~plain_ok).any()
    np.testing.assert_array_equal(got[plain_ok], (plain_sum + lo)[plain_ok])
    assert max(ulp_error(float(v), _truth(a, b)) for v, a, b in zip(got[~plain_ok], xs[~plain_ok], ts[~plain_ok])) <= 1.0
    # where the plain sum is taken, cancellation by at most the ratio keeps it within budget
    assert max(ulp_error(float(v), _truth(a, b)) for v, a, b in zip(got, xs, ts)) <= 4.0


def test_generated_kernel_guards_as_measured():
    L = lossgen.get("poisson_nll")
    assert "compensated_0(" in open(L.module.__file__).read()     # the gradient is a guarded form
    xs, ts = _points()
    g = L.grad(xs, ts, reduction="none")
    truth = [_truth(a, b) for a, b in zip(xs, ts)]
    assert max(ulp_error(float(v), tr) for v, tr in zip(g, truth)) <= 2.0
    hi, lo = _exp_hilo(xs)                               # the kernel's e^x and its low part
    far = np.abs(ts) + hi <= GUARD_RATIO * np.abs(hi - ts)
    assert far.sum() >= 100
    np.testing.assert_array_equal(g[far], ((-ts + hi) + lo)[far])     # the plain path, bit for bit
    assert math.isfinite(float(L.grad(np.array([700.0]), np.array([1.0]), reduction="none")[0]))


def test_dd_exp_and_dd_log_are_double_double_accurate():
    """The double-double exponential (tables of 2^(j/2^8) and 2^(i/2^16), a five-term
    series) and logarithm (one Newton step on it) against mpmath, at points spread over
    every table entry and reduced argument: relative error below 2^-98 where the low part
    is a normal number too (results above 2^-969);
    the logarithm near 1, where its value is tiny, to 2^-110 absolute (the Newton step's
    error is second order in log(ah))."""
    from lossgen.runtime.scalar import dd_exp, dd_log
    rng = np.random.default_rng(11)
    xs = list(rng.uniform(-670.0, 709.7, 600)) + list(rng.normal(0, 1, 200)) + \
        list(10.0 ** rng.uniform(-300, 0, 100)) + list(rng.uniform(-1e-4, 1e-4, 200)) + [0.0, 1e-310, -1e-310, 709.78, -671.0, 1.0, -1.0]
    with mpmath.workdps(60):
        worst = mpmath.mpf(0)
        for xv in xs:
            lo = xv * 2.0 ** -60 * rng.uniform(-1, 1)
            h, l = dd_exp(xv, lo)
            truth = mpmath.exp(mpmath.mpf(xv) + mpmath.mpf(lo))
            worst = max(worst, abs(mpmath.mpf(h) + mpmath.mpf(l) - truth) / truth)
        assert worst < mpmath.mpf(2) ** -98, worst
        worst = mpmath.mpf(0)
        for av in list(10.0 ** rng.uniform(-290, 290, 400)) + [1.0, 1.0 + 2.0 ** -52, 0.5, 2.0]:
            lo = av * 2.0 ** -60 * rng.uniform(-1, 1)
            h, l = dd_log(av, lo)
            truth = mpmath.log(mpmath.mpf(av) + mpmath.mpf(lo))
            scale = max(abs(truth), mpmath.mpf(2) ** -12)
            worst = max(worst, abs(mpmath.mpf(h) + mpmath.mpf(l) - truth) / scale)
        assert worst < mpmath.mpf(2) ** -98, worst
    assert dd_exp(710.0, 0.0) == (math.inf, 0.0) and dd_exp(-746.0, 0.0) == (0.0, 0.0)
    assert math.isnan(dd_exp(math.nan, 0.0)[0])


def test_expanded_sigmoids_leave_no_rounding_of_their_own():
    """g(x) - c, c the double nearest g(x0) (g = sigmoid, softplus, log_sigmoid): the
    difference is g's own rounding, which g(hi) + g'(hi) lo keeps (an error ~2^-53 |g|)
    and the expanded program (double-double exp and log) removes (under 2^-64 |g|; log1p
    is log(1 + u) in double-double, absolutely accurate to ~2^-105, so for a tiny u
    it is relatively accurate to 2^-68 only)."""
    from lossgen.primitives.functions import log_sigmoid, sigmoid, softplus
    from lossgen.rewrite.compensated import ExpandedCompensated, expanded, marked_program
    mp_of = {sigmoid: lambda v: 1 / (1 + mpmath.exp(-v)), softplus: lambda v: mpmath.log1p(mpmath.exp(v)),
             log_sigmoid: lambda v: -mpmath.log1p(mpmath.exp(-v))}
    for g, mp_g in mp_of.items():
        for x0 in (-3.96, -0.7, 0.3, 2.5, 30.0):
            c = float(mp_g(mpmath.mpf(x0)))
            node = Compensated(g(x) - t)
            with mpmath.workdps(60):
                truth = mp_g(mpmath.mpf(x0)) - c
            if truth == 0:
                continue
            full = evaluate_marked(expanded(node), (x, t), [np.array([x0]), np.array([c])])[0]
            assert isinstance(expanded(node), ExpandedCompensated)
            assert marked_program(expanded(node)) != marked_program(node)
            assert abs(full - truth) <= 2.0 ** -64 * abs(c), (g, x0, full, truth)
    # the unexpanded program keeps sigmoid's rounding: what the expansion is for
    c = float(1 / (1 + mpmath.exp(mpmath.mpf(3.96))))
    plain = evaluate_marked(Compensated(sigmoid(x) - t), (x, t), [np.array([-3.96]), np.array([c])])[0]
    with mpmath.workdps(60):
        truth = 1 / (1 + mpmath.exp(mpmath.mpf(3.96))) - c
    assert abs(plain - truth) > 2.0 ** -60 * c


def test_power_with_integer_offset_divides_before_it_overflows():
    """target * pred**(-p - 1) with target 0 or tiny and pred = 1e-176: pred**(-2.5)
    overflows, (target/pred) * pred**-1.5 does not.  And a guarded sum whose terms
    overflow (inf + inf) runs the program instead of returning inf."""
    pred, target, p = sp.symbols("pred target p", positive=True)
    e = 2 * p * target * pred ** (-p - 1) + 2 * (1 - p) * pred ** (-p)
    cols = [np.array([2.4e-176, 2.4e-176, 0.5]), np.array([0.0, 1e-300, 0.1]), np.array([1.5, 1.5, 1.5])]
    for node in (Compensated(e), guarded(e)):
        got = evaluate_marked(node, (pred, target, p), cols)
        for j in range(3):
            P, T, q = (mpmath.mpf(float(c[j])) for c in cols)
            with mpmath.workdps(60):
                truth = 2 * q * T * P ** (-q - 1) + 2 * (1 - q) * P ** (-q)
            assert math.isfinite(got[j]) and ulp_error(got[j], truth) <= 2.0, (node, j, got[j], truth)
