r"""Disciplined convex programming over a SymPy expression tree.

The rules are CVXPY's (Grant, Boyd & Ye 2006, "Disciplined Convex Programming"):
an expression :math:`f(g_1, \dots, g_k)` is convex when the atom :math:`f` is convex and
each argument is affine, or convex where :math:`f` is non-decreasing in it, or concave
where :math:`f` is non-increasing in it (concave: the mirror image).  Sums add
curvatures; a constant factor :math:`c\,g` keeps the curvature of :math:`g` when
:math:`c \ge 0` and flips it when :math:`c \le 0` (signs come from :mod:`.signs`, so
they hold for every parameter the constraints allow).

The atom table (curvature; monotonicity in each argument, where "sign" means
non-decreasing for a non-negative argument and non-increasing for a non-positive one):

============================  ========  =====================
exp, expm1, softplus          convex    non-decreasing
logaddexp, Max                convex    non-decreasing (each)
Abs, logcosh                  convex    sign
log, log1p, log_sigmoid       concave   non-decreasing
Min                           concave   non-decreasing (each)
x**p, p even integer          convex    sign
x**p, p >= 1, x >= 0          convex    non-decreasing
x**p, 0 < p < 1, x >= 0       concave   non-decreasing
x**p, p < 0, x > 0            convex    non-increasing
sqrt(c + sum s_i a_i**2)      convex    (a Euclidean norm; c, s_i >= 0, a_i affine)
============================  ========  =====================

DCP is sound but depends on how an expression is written, and it can never prove
non-convexity: "not DCP" means only "this method did not prove it".
"""
from __future__ import annotations

import sympy as sp

from ..primitives import functions as prim
from .signs import NONNEG, NONPOS, sign_of

CONST, AFFINE, CONVEX, CONCAVE, UNKNOWN = "constant", "affine", "convex", "concave", "unknown"

# atom -> (curvature, monotonicity of every argument)
ATOMS = {
    sp.exp: (CONVEX, "incr"), prim.expm1: (CONVEX, "incr"), prim.softplus: (CONVEX, "incr"),
    prim.logaddexp: (CONVEX, "incr"), sp.Max: (CONVEX, "incr"),
    sp.Abs: (CONVEX, "sign"), prim.logcosh: (CONVEX, "sign"), sp.cosh: (CONVEX, "sign"),
    sp.log: (CONCAVE, "incr"), prim.log1p: (CONCAVE, "incr"), prim.log_sigmoid: (CONCAVE, "incr"),
    sp.Min: (CONCAVE, "incr"),
}


def _join(a: str, b: str) -> str:
    """Curvature of a sum."""
    if a == CONST:
        return b
    if b == CONST:
        return a
    if a == AFFINE:
        return b
    if b == AFFINE:
        return a
    return a if a == b else UNKNOWN


def _scaled(curv: str, sign: str | None) -> str:
    if curv in (CONST, AFFINE):
        return curv
    if sign in NONNEG:
        return curv if sign != "zero" else CONST
    if sign in NONPOS:
        return {CONVEX: CONCAVE, CONCAVE: CONVEX}.get(curv, UNKNOWN) if sign != "zero" else CONST
    return UNKNOWN


class DCP:
    """Curvature of expressions in ``variables`` with constants' signs over ``ranges``."""

    def __init__(self, variables, ranges: dict):
        self.vars = set(variables)
        self.ranges = ranges
        self.trace: list[str] = []

    def sign(self, e):
        return sign_of(e, self.ranges)

    def compose(self, curv: str, mono: str, args) -> str:
        """Curvature of atom(args) for an atom of curvature ``curv``."""
        for a in args:
            c = self.curvature(a)
            if c in (CONST, AFFINE):
                continue
            if mono == "sign":
                s = self.sign(a)
                m = "incr" if s in NONNEG else ("decr" if s in NONPOS else None)
            else:
                m = mono
            ok = {(CONVEX, "incr"): CONVEX, (CONVEX, "decr"): CONCAVE,
                  (CONCAVE, "incr"): CONCAVE, (CONCAVE, "decr"): CONVEX}.get((c, m))
            if ok != curv:
                return UNKNOWN
        return curv

    def curvature(self, e: sp.Expr) -> str:
        if not (e.free_symbols & self.vars):
            return CONST
        if e.is_Symbol:
            return AFFINE
        if e.is_Add:
            out = CONST
            for a in e.args:
                out = _join(out, self.curvature(a))
                if out == UNKNOWN:
                    break
            return out
        if e.is_Mul:
            const = [a for a in e.args if not (a.free_symbols & self.vars)]
            var = [a for a in e.args if a.free_symbols & self.vars]
            if len(var) != 1:
                return UNKNOWN
            c = self.curvature(var[0])
            return _scaled(c, self.sign(sp.Mul(*const))) if const else c
        if e.is_Pow:
            return self._pow(e)
        if isinstance(e, sp.Piecewise):
            if any(c.free_symbols & self.vars for _, c in e.args):
                return UNKNOWN
            out = CONST
            for b, _ in e.args:
                out = _join(out, self.curvature(b))
            return out
        if isinstance(e, prim.xlogy):
            x, y = e.args
            if not (x.free_symbols & self.vars):
                return self.curvature(x * sp.log(y))
            if not (y.free_symbols & self.vars):
                return self.curvature(x) if self.curvature(x) == AFFINE else UNKNOWN
            return UNKNOWN
        if e.func in ATOMS:
            curv, mono = ATOMS[e.func]
            return self.compose(curv, mono, e.args)
        return UNKNOWN

    def _pow(self, e: sp.Expr) -> str:
        base, p = e.base, e.exp
        if p.free_symbols & self.vars:
            if not (base.free_symbols & self.vars) and self.sign(base) == "pos":
                return self.curvature(sp.exp(p * sp.log(base)))
            return UNKNOWN
        if p == 1:
            return self.curvature(base)
        if p == sp.S.Half and self._is_norm(base):
            return CONVEX
        if p.is_Integer and p > 0 and p % 2 == 0:
            return self.compose(CONVEX, "sign", [base])
        bsign = self.sign(base)
        ge1, pos = sign_of(p - 1, self.ranges), sign_of(p, self.ranges)
        if ge1 in NONNEG and bsign in NONNEG:
            return self.compose(CONVEX, "incr", [base])
        if pos == "pos" and sign_of(1 - p, self.ranges) in NONNEG and bsign in NONNEG:
            return self.compose(CONCAVE, "incr", [base])
        if pos in ("neg",) and bsign == "pos":
            return self.compose(CONVEX, "decr", [base])
        return UNKNOWN

    def _is_norm(self, s: sp.Expr) -> bool:
        """s = c + sum_i k_i a_i**2 with c >= 0, k_i >= 0 constants and a_i affine."""
        terms = s.args if s.is_Add else (s,)
        squares = 0
        for t in terms:
            if not (t.free_symbols & self.vars):
                if self.sign(t) not in NONNEG:
                    return False
                continue
            const = [a for a in sp.Mul.make_args(t) if not (a.free_symbols & self.vars)]
            var = [a for a in sp.Mul.make_args(t) if a.free_symbols & self.vars]
            if len(var) != 1 or not (var[0].is_Pow and var[0].exp == 2):
                return False
            if self.curvature(var[0].base) != AFFINE or self.sign(sp.Mul(*const)) not in NONNEG:
                return False
            squares += 1
        return squares > 0


def dcp_curvature(expr: sp.Expr, variables, ranges: dict) -> str:
    """``"convex"``, ``"concave"``, ``"affine"``, ``"constant"`` or ``"unknown"``."""
    return DCP(variables, ranges).curvature(expr)
