r"""Interval arithmetic on SymPy expressions (mpmath.iv).

:func:`enclose` returns an interval :math:`[a, b]` that contains ``expr`` at every point
of a box (one interval per free symbol; infinite ends allowed).  Arithmetic and
``exp``/``log``/``sqrt``/``sin``/``cos`` use :mod:`mpmath.iv` (outward rounding).
Other functions are monotone (or monotone on each side of one point) and are enclosed
from their values at the ends, computed at 80 bits and widened by :math:`2^{-60}`
relative, then clamped to the function's range (a sigmoid is never below 0).
``Piecewise`` gives the hull of every branch whose condition may hold.  Anything else
raises :class:`Unsupported`: no guess is ever made.

Branch-and-bound on these enclosures is in :mod:`.bnb`.
"""
from __future__ import annotations

import mpmath
import sympy as sp
from mpmath import iv

from ..primitives import functions as prim

_WIDEN = mpmath.mpf(2) ** -60


class Unsupported(Exception):
    """The expression has a node without an interval rule."""


def interval(lo, hi=None):
    hi = lo if hi is None else hi
    return iv.mpf([mpmath.mpf(lo), mpmath.mpf(hi)])


def ends(x) -> tuple:
    return mpmath.mpf(x.a.a), mpmath.mpf(x.b.b)


def _widened(lo, hi, floor=None, ceil=None):
    lo = lo - abs(lo) * _WIDEN if mpmath.isfinite(lo) else lo
    hi = hi + abs(hi) * _WIDEN if mpmath.isfinite(hi) else hi
    if floor is not None:
        lo = max(lo, floor)
    if ceil is not None:
        hi = min(hi, ceil)
    return iv.mpf([lo, hi])


def _monotone(f, x, increasing=True, floor=None, ceil=None):
    a, b = ends(x)
    with mpmath.workprec(80):
        fa, fb = f(a), f(b)
    if mpmath.isnan(fa) or mpmath.isnan(fb):
        raise Unsupported("nan at an end")
    lo, hi = (fa, fb) if increasing else (fb, fa)
    return _widened(lo, hi, floor, ceil)


def _valley(f, x, floor=None):
    """f decreasing on (-inf, 0] and increasing on [0, inf) (cosh, logcosh)."""
    a, b = ends(x)
    with mpmath.workprec(80):
        fa, fb = f(a), f(b)
        top = max(fa, fb)
        low = f(mpmath.mpf(0)) if a <= 0 <= b else min(fa, fb)
    return _widened(low, top, floor)


def _mp(f):
    def g(v):
        if mpmath.isfinite(v):
            return f(v)
        try:  # mpmath knows most functions' values at +-inf exactly
            y = f(v)
            if not mpmath.isnan(y):
                return y
        except (ValueError, OverflowError, ZeroDivisionError):
            pass
        return _limit_at(f, v)
    return g


def _limit_at(f, v):
    # value at +-inf of the monotone/valley functions used here
    with mpmath.workprec(80):
        big = mpmath.mpf(10) ** 30 * (1 if v > 0 else -1)
        try:
            y = f(big)
        except (OverflowError, ValueError):
            return mpmath.inf if v > 0 else -mpmath.inf
        if abs(y) > mpmath.mpf(10) ** 25:
            return mpmath.inf if y > 0 else -mpmath.inf
        return y


def _log(x):
    a, b = ends(x)
    if b <= 0:
        raise Unsupported("log of a non-positive interval")
    if a <= 0:
        return iv.mpf([-mpmath.inf, ends(iv.log(interval(b)))[1]])
    return iv.log(x)


def _pow(base, e: sp.Expr, box):
    if e.is_Integer:
        n = int(e)
        if n < 0:
            a, b = ends(base)
            if a <= 0 <= b and n % 2 == 1:
                return iv.mpf([-mpmath.inf, mpmath.inf])
        return base ** n
    a, b = ends(base)
    if a < 0:
        if b <= 0:
            raise Unsupported("fractional power of a negative interval")
        base = iv.mpf([0, b])
        a = mpmath.mpf(0)
    if e.is_Rational:
        p = iv.mpf(sp.Rational(e).p) / iv.mpf(sp.Rational(e).q)
        if a == 0 and e < 0:
            return iv.mpf([ends(base ** p)[0], mpmath.inf]) if b > 0 else iv.mpf([mpmath.inf, mpmath.inf])
        return base ** p
    ex = enclose(e, box)
    if a == 0:
        raise Unsupported("symbolic power of an interval touching 0")
    return iv.exp(ex * iv.log(base))


def _sign(x):
    a, b = ends(x)
    return iv.mpf([mpmath.sign(a), mpmath.sign(b)])


def _heaviside(x):
    a, b = ends(x)
    h = lambda v: mpmath.mpf(0) if v < 0 else (mpmath.mpf(1) if v > 0 else mpmath.mpf(0.5))
    return iv.mpf([h(a), h(b)])


def _abs(x):
    a, b = ends(x)
    if a >= 0:
        return x
    if b <= 0:
        return -x
    return iv.mpf([0, max(-a, b)])


def _hull(xs):
    return iv.mpf([min(ends(x)[0] for x in xs), max(ends(x)[1] for x in xs)])


def truth(cond: sp.Basic, box) -> bool | None:
    """True/False when ``cond`` holds/fails on the whole box, None when undecided."""
    if cond is sp.true:
        return True
    if cond is sp.false:
        return False
    if isinstance(cond, sp.And):
        vals = [truth(c, box) for c in cond.args]
        return False if False in vals else (True if all(v is True for v in vals) else None)
    if isinstance(cond, sp.Or):
        vals = [truth(c, box) for c in cond.args]
        return True if True in vals else (False if all(v is False for v in vals) else None)
    if isinstance(cond, sp.Not):
        v = truth(cond.args[0], box)
        return None if v is None else not v
    if isinstance(cond, sp.core.relational.Relational):
        a, b = ends(enclose(cond.lhs - cond.rhs, box))
        op = cond.rel_op
        if op in (">", ">="):
            if a > 0 or (op == ">=" and a >= 0):
                return True
            return False if (b < 0 or (op == ">" and b <= 0)) else None
        if op in ("<", "<="):
            if b < 0 or (op == "<=" and b <= 0):
                return True
            return False if (a > 0 or (op == "<" and a >= 0)) else None
        if op == "==":
            return True if a == b == 0 else (False if a > 0 or b < 0 else None)
        if op == "!=":
            return False if a == b == 0 else (True if a > 0 or b < 0 else None)
    raise Unsupported(f"condition {cond}")


_MONOTONE = {
    sp.tanh: (mpmath.tanh, True, -1, 1), sp.atan: (mpmath.atan, True, None, None),
    sp.erf: (mpmath.erf, True, -1, 1), sp.erfc: (mpmath.erfc, False, 0, 2),
    sp.sinh: (mpmath.sinh, True, None, None), sp.asinh: (mpmath.asinh, True, None, None),
    prim.sigmoid: (prim.sigmoid.mpmath, True, 0, 1), prim.softplus: (prim.softplus.mpmath, True, 0, None),
    prim.log_sigmoid: (prim.log_sigmoid.mpmath, True, None, 0), prim.expm1: (mpmath.expm1, True, -1, None),
}


def enclose(expr: sp.Expr, box: dict) -> iv.mpf:
    """An interval containing ``expr`` on ``box`` (symbol -> iv interval)."""
    if expr.is_Symbol:
        if expr not in box:
            raise Unsupported(f"no range for {expr}")
        return box[expr]
    if expr.is_Integer:
        return iv.mpf(int(expr))
    if expr.is_Rational:
        return iv.mpf(expr.p) / iv.mpf(expr.q)
    if expr.is_Float:
        return iv.mpf(str(expr))
    if expr is sp.pi:
        return iv.pi
    if expr is sp.E:
        return iv.e
    if expr in (sp.oo, -sp.oo, sp.zoo, sp.nan):
        raise Unsupported("infinite constant")
    if expr.is_Add:
        out = iv.mpf(0)
        for a in expr.args:
            out = out + enclose(a, box)
        return out
    if expr.is_Mul:
        out = iv.mpf(1)
        for a in expr.args:
            out = out * enclose(a, box)
        return out
    if expr.is_Pow:
        return _pow(enclose(expr.base, box), expr.exp, box)
    f = expr.func
    args = [enclose(a, box) for a in expr.args] if not isinstance(expr, sp.Piecewise) else None
    if f is sp.exp:
        return iv.exp(args[0])
    if f is sp.log or f is prim.log1p:
        return _log(args[0] if f is sp.log else args[0] + 1)
    if f in (sp.sin, sp.cos):
        return (iv.sin if f is sp.sin else iv.cos)(args[0])
    if f in _MONOTONE:
        fn, inc, lo, hi = _MONOTONE[f]
        return _monotone(_mp(fn), args[0], inc, lo, hi)
    if f is sp.cosh:
        return _valley(_mp(mpmath.cosh), args[0], 1)
    if f is prim.logcosh:
        return _valley(_mp(prim.logcosh.mpmath), args[0], 0)
    if f is prim.logaddexp:
        (a0, a1), (b0, b1) = ends(args[0]), ends(args[1])
        with mpmath.workprec(80):
            lo, hi = prim.logaddexp.mpmath(a0, b0), prim.logaddexp.mpmath(a1, b1)
        return _widened(lo, hi)
    if f is prim.xlogy:
        return args[0] * _log(args[1])
    if f is sp.Abs:
        return _abs(args[0])
    if f is sp.Max:
        return iv.mpf([max(ends(a)[0] for a in args), max(ends(a)[1] for a in args)])
    if f is sp.Min:
        return iv.mpf([min(ends(a)[0] for a in args), min(ends(a)[1] for a in args)])
    if f is sp.sign:
        return _sign(args[0])
    if f is sp.Heaviside:
        return _heaviside(args[0])
    if isinstance(expr, sp.Piecewise):
        parts = []
        for e, c in expr.args:
            t = truth(c, box)
            if t is False:
                continue
            parts.append(enclose(e, box))
            if t is True:
                break
        if not parts:
            raise Unsupported("no branch of a Piecewise holds")
        return _hull(parts)
    raise Unsupported(f"no interval rule for {f}")


def to_box(ranges: dict) -> dict:
    """symbol -> (lo, hi) floats  ->  symbol -> iv interval."""
    return {s: iv.mpf([mpmath.mpf(lo), mpmath.mpf(hi)]) for s, (lo, hi) in ranges.items()}


def lower_upper(expr, ranges: dict):
    """(lo, hi) of the enclosure over ``ranges`` (floats), or None."""
    try:
        a, b = ends(enclose(expr, to_box(ranges)))
    except (Unsupported, ValueError, ZeroDivisionError, OverflowError, TypeError, mpmath.libmp.NoConvergence,
            ArithmeticError):
        return None
    if mpmath.isnan(a) or mpmath.isnan(b):
        return None
    return a, b
