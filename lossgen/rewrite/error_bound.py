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
* anything else: no bound (None).

A guarded sum (:func:`.compensated.guarded`) keeps the plain sum S of n terms t_i
where sum |t_i| <= R |S|.  There its error is at most
e u sum|t_i| + (n - 2) u sum|t_i| + u |S| <= ((e + n - 2) R + 1) u |S|, e the largest
term bound (the terms' rounding, then n - 2 partial sums each at most sum|t_i|, then
the last rounding), and u |S| is at most one ulp of S; values below the smallest normal
add at most half an ulp of it per operation, which the budget counts in (its unit is
the ulp of max(|truth|, smallest normal)).
"""
from __future__ import annotations

import sympy as sp

#: vecmath.exp (tests/test_vecmath.py) and glibc's exp: error below 0.52 ulp, so below
#: 1.04 u relative (1.1 with a margin)
LIBM_EXP = 1.1


def term_bound(expr: sp.Expr) -> float | None:
    """The relative error bound of ``expr`` evaluated in doubles, in units of u, or None."""
    if expr.is_Symbol:
        return 0.0
    if expr.is_Number:
        return 0.0 if _is_double(expr) else 1.0
    if isinstance(expr, sp.exp):
        return LIBM_EXP if term_bound(expr.args[0]) == 0.0 else None
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
    return own + sum(_operations(a) for a in expr.args)


def sum_error_ulps(terms, ratio: float) -> float | None:
    """A bound, in ulps of the result, on a plain sum of ``terms`` wherever
    sum |t_i| <= ``ratio`` |sum t_i| (see the module docstring), or None."""
    bounds = [term_bound(t) for t in terms]
    if not terms or any(b is None for b in bounds):
        return None
    n = len(terms)
    tiny = 0.5 * sum(_operations(t) for t in terms) + 0.5 * (n - 1)
    return (max(bounds) + max(n - 2, 0)) * ratio + 1.0 + tiny


def widest_ratio(terms, ratios, budget: float) -> float | None:
    """The largest of ``ratios`` at which the plain sum of ``terms`` is proved within
    ``budget`` ulps, or None."""
    ok = [r for r in ratios if (b := sum_error_ulps(terms, r)) is not None and b <= budget]
    return max(ok) if ok else None


def _is_double(x: sp.Number) -> bool:
    try:
        return sp.Rational(float(x)) == sp.Rational(x) if x.is_Rational else sp.Float(float(x), 53) == x
    except (TypeError, ValueError, OverflowError):
        return False
