r"""A priori bounds on the rounding error of a plain (double) evaluation, for the few
expression shapes where one is short to prove, and the widest guard they allow.

A *term bound* is a bound on the relative error of a term evaluated in doubles, in
units of u = 2^-53:

* an input or a parameter is exact (0), and so is a constant that is a double;
* a negation is exact; each other multiplication or division adds at most 1 (one
  rounding);
* ``exp`` of an exact argument errs by at most ``LIBM_EXP`` (the kernels'
  ``runtime.vecmath.exp`` is within 0.52 ulp over the normal range, i.e. 1.04 u
  relative, as is glibc's); of an inexact one the error is amplified by |x| and no
  bound is given;
* a sum of two exact terms is one correctly rounded addition: 1, whatever it cancels;
* ``sigmoid`` of an exact argument: ``SIGMOID`` (the runtime's s/(1 + e), e = e^{-|x|},
  s = 1 or e: e within LIBM_EXP, 1 + e within 1 + LIBM_EXP/2 since e <= 1, the
  quotient 1);
* anything else: no bound (None).

A guarded sum (:func:`.compensated.guarded`) keeps the plain sum S of n terms t_i
where sum |t_i| <= R |S|.  There its error is at most
e u sum|t_i| + (n - 2) u sum|t_i| + u |S| <= ((e + n - 2) R + 1) u |S|, e the largest
term bound (the terms' rounding, then n - 2 partial sums each at most sum|t_i|, then
the last rounding), and u |S| is at most one ulp of S; values below the smallest normal
add at most half an ulp of it per operation, which the budget counts in (its unit is
the ulp of max(|truth|, smallest normal)).

A sum of two terms, e^x (x exact) and an exact t, is computed *split* (:func:`split_exp`):
e^x as hi + lo (``runtime.vecmath.exp_hilo``, within ``EXP_HILO_ERROR`` = 2^-58 relative),
then (hi + t) + lo.  Where the terms cancel by a ratio R >= 3, hi + t is exact (Sterbenz:
hi is within a factor 2 of -t) and near the result; below 3 it is within R of the
result and rounds once: either way the error is at most 2^-58 e^x + 2 roundings
<= (R/32 + 2) ulps of the result (plus the subnormal allowance), so e^x - t stays
plain up to a 128-fold cancellation (R/32 + 2 + 1 = 7 ulps with the subnormal allowance
of its one operation) where a rounded e^x allowed 4.

A float32 result is computed in doubles and rounded once: its error in float32 ulps is
at most 2^-29 times the double's error in double ulps, plus the half ulp of the last
rounding (inputs rounded to float32 are exact doubles).  :func:`float32_ratio` gives the
widest ratio at which a guarded sum of a float32 kernel is proved within half its
budget that way.
"""
from __future__ import annotations

import sympy as sp

from ..primitives.functions import sigmoid
from ..runtime.vecmath import EXP_HILO_ERROR

#: vecmath.exp (tests/test_vecmath.py) and glibc's exp: error below 0.52 ulp, so below
#: 1.04 u relative (1.1 with a margin)
LIBM_EXP = 1.1
#: runtime.vecmath.exp_hilo's hi + lo: within EXP_HILO_ERROR = 2^-58 relative, in units of u
EXP_HILO = EXP_HILO_ERROR / 2.0 ** -53
#: runtime.scalar.sigmoid of an exact argument: LIBM_EXP + (1 + LIBM_EXP/2) + 1, rounded up
SIGMOID = 3.7
#: the float32 budget (4 float32 ulps) in double ulps of the result, of which a float32
#: guard may use half: 2 * 2^29 (the other half covers the final rounding, 0.5)
FLOAT32_BUDGET_IN_DOUBLE_ULPS = 2.0 * 2.0 ** 29
#: the guards a float32 kernel's sum may get (2^10, 2^16, 2^20: beyond 2^20 the double-
#: double code runs on about one element in a million of random data anyway)
FLOAT32_GUARD_RATIOS = (1024.0, 65536.0, 1048576.0)


def term_bound(expr: sp.Expr) -> float | None:
    """The relative error bound of ``expr`` evaluated in doubles, in units of u, or None."""
    if expr.is_Symbol:
        return 0.0
    if expr.is_Number:
        return 0.0 if _is_double(expr) else 1.0
    if isinstance(expr, sp.exp):
        return LIBM_EXP if term_bound(expr.args[0]) == 0.0 else None
    if isinstance(expr, sigmoid):
        return SIGMOID if term_bound(expr.args[0]) == 0.0 else None
    if expr.is_Add:
        return 1.0 if len(expr.args) == 2 and all(term_bound(a) == 0.0 for a in expr.args) else None
    if expr.is_Pow and expr.exp == -1:
        inner = term_bound(expr.base)
        return None if inner is None else inner + 1.0
    if expr.is_Mul:
        factors = [f for f in expr.args if f != sp.S.NegativeOne]
        bounds = [term_bound(f) for f in factors]
        if any(b is None for b in bounds):
            return None
        return sum(bounds) + max(len(factors) - 1, 0)
    return None


def _operations(expr: sp.Expr) -> int:
    """Operations that can round (an upper count: every node but negations and leaves)."""
    if not expr.args:
        return 0
    own = 0 if (expr.is_Mul and sp.S.NegativeOne in expr.args and len(expr.args) == 2) else 1
    if isinstance(expr, sigmoid):
        own = 3     # an exponential, an addition and a division
    return own + sum(_operations(a) for a in expr.args)


def split_exp(terms) -> int | None:
    """The index of the term e^x of a sum that the kernels compute split (e^x as hi + lo,
    then (hi + t) + lo): two terms, e^x with x exact and an exact t; else None."""
    if len(terms) != 2:
        return None
    for k, t in enumerate(terms):
        if isinstance(t, sp.exp) and term_bound(t.args[0]) == 0.0 and term_bound(terms[1 - k]) == 0.0:
            return k
    return None


def sum_error_ulps(terms, ratio: float) -> float | None:
    """A bound, in ulps of the result, on a plain sum of ``terms`` wherever
    sum |t_i| <= ``ratio`` |sum t_i| (see the module docstring), or None."""
    bounds = [term_bound(t) for t in terms]
    if not terms or any(b is None for b in bounds):
        return None
    n = len(terms)
    tiny = 0.5 * sum(_operations(t) for t in terms) + 0.5 * (n - 1)
    if split_exp(terms) is not None:
        return EXP_HILO * ratio + 2.0 + tiny
    return (max(bounds) + max(n - 2, 0)) * ratio + 1.0 + tiny


def widest_ratio(terms, ratios, budget: float) -> float | None:
    """The largest of ``ratios`` at which the plain sum of ``terms`` is proved within
    ``budget`` ulps, or None."""
    ok = [r for r in ratios if (b := sum_error_ulps(terms, r)) is not None and b <= budget]
    return max(ok) if ok else None


def float32_ratio(terms, ratio: float) -> float | None:
    """The widest of :data:`FLOAT32_GUARD_RATIOS` above ``ratio`` (the double kernels'
    guard) at which the plain sum of ``terms`` is proved within half the float32 budget,
    or None."""
    wider = [r for r in FLOAT32_GUARD_RATIOS if r > ratio]
    return widest_ratio(terms, wider, FLOAT32_BUDGET_IN_DOUBLE_ULPS)


def _is_double(x: sp.Number) -> bool:
    try:
        return sp.Rational(float(x)) == sp.Rational(x) if x.is_Rational else sp.Float(float(x), 53) == x
    except (TypeError, ValueError, OverflowError):
        return False
