r"""Numbers for the analysis: float64 scans (to look) and mpmath values (to confirm).

Sampling never proves anything here.  It finds *candidates* — a point where a second
derivative looks negative, a maximum of :math:`|\psi|` — which are then confirmed (or
refuted) in high precision with :func:`mp_value` (mpmath at 50 digits, and again at 100
digits).

Grids: a real variable is scanned on :math:`[-10, 10]` (step 0.1) plus
:math:`\pm 10^{-4} \dots 10^{8}` (log-spaced); a positive one on
:math:`10^{-12} \dots 10^{8}`; a bounded interval on an interior grid plus points
:math:`10^{-k}` from each end.  Parameters are tried at their default (or given) value
first, then at values spread over what their constraint allows.
"""
from __future__ import annotations

import functools
import itertools
import math

import mpmath
import numpy as np
import sympy as sp

from ..primitives import PRIMITIVES
from .problem import Problem, set_hull

_NP_MODULES = [{**{n: c.numpy for n, c in PRIMITIVES.items()}, "sign": np.sign,
                "erf": np.vectorize(math.erf, otypes=[float]), "erfc": np.vectorize(math.erfc, otypes=[float]),
                "Heaviside": lambda x, *h: np.heaviside(x, 0.5), "DiracDelta": lambda *a: 0.0}, "numpy"]


def no_dirac(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero) \
        if expr.has(sp.DiracDelta) else expr


def hp(value) -> mpmath.mpf:
    """An exact-as-possible mpf (60 digits) of a number, SymPy number or string."""
    with mpmath.workdps(60):
        if isinstance(value, sp.Basic):
            value = sp.re(sp.N(value, 60))
            return mpmath.mpf(str(value))
        if isinstance(value, (float, int)):
            return mpmath.mpf(value)
        return mpmath.mpf(value)


def np_function(expr: sp.Expr, args):
    """Vectorised float64 version of ``expr`` (Dirac terms dropped)."""
    f = sp.lambdify(list(args), no_dirac(expr), modules=_NP_MODULES)

    def call(*values):
        with np.errstate(all="ignore"):
            out = f(*values)
        return np.broadcast_to(np.asarray(out, dtype=np.float64), np.broadcast(*values).shape) \
            if values else np.asarray(out, dtype=np.float64)
    return call


_MP_MODULES = [{**{n: c.mpmath for n, c in PRIMITIVES.items()},
                "sign": lambda v: mpmath.mpf(0) if v == 0 else mpmath.sign(v),
                "Heaviside": lambda v, *h: mpmath.mpf(0.5) if v == 0 else (mpmath.mpf(1) if v > 0 else mpmath.mpf(0)),
                "DiracDelta": lambda *a: mpmath.mpf(0)}, "mpmath"]


@functools.lru_cache(maxsize=512)
def _mp_lambda(expr: sp.Expr, args: tuple):
    return sp.lambdify(args, no_dirac(expr), modules=_MP_MODULES)


def mp_value(expr: sp.Expr, point: dict, dps: int = 50):
    """``expr`` at ``point`` (symbol -> number) in mpmath at exactly ``dps`` digits, or None.

    The same definitions as :mod:`lossgen.verify.truth` (each primitive by its mpmath
    value; sign(0) = 0, Heaviside(0) = 1/2; Dirac terms dropped), at a fixed precision:
    callers compare two precisions themselves.
    """
    args = tuple(sorted(expr.free_symbols, key=lambda s: s.name))
    missing = [a for a in args if a not in point]
    if missing:
        raise KeyError(f"no value for {missing}")
    try:
        f = _mp_lambda(expr, args)
        with mpmath.workdps(dps):
            v = mpmath.mpf(f(*[mpmath.mpf(point[a]) for a in args]))
            return v if mpmath.isfinite(v) else None
    except (ValueError, TypeError, ZeroDivisionError, OverflowError, ArithmeticError):
        return None


def confirmed_negative(expr: sp.Expr, point: dict):
    """The value if ``expr < 0`` at ``point`` at 50 digits and at 100 digits (agreeing), else None."""
    a = mp_value(expr, point, 50)
    if a is None or a >= 0:
        return None
    b = mp_value(expr, point, 100)
    if b is None or b >= 0 or abs(a - b) > abs(b) * mpmath.mpf(10) ** -20:
        return None
    return b


def grid(s: sp.Set) -> np.ndarray:
    """Points of a set to scan (see module docstring)."""
    if isinstance(s, sp.FiniteSet):
        return np.array([float(v) for v in s.args])
    lo, hi = set_hull(s)
    if math.isinf(lo) and math.isinf(hi):
        logs = np.logspace(-4, 8, 61)
        pts = np.concatenate([np.linspace(-10, 10, 201), logs, -logs])
    elif math.isinf(hi):
        pts = lo + np.concatenate([np.logspace(-12, 8, 121), np.linspace(0.05, 10, 200)])
    elif math.isinf(lo):
        pts = hi - np.concatenate([np.logspace(-12, 8, 121), np.linspace(0.05, 10, 200)])
    else:
        w = hi - lo
        ks = w * np.logspace(-12, -2, 11)
        pts = np.concatenate([lo + w * np.linspace(0.01, 0.99, 99), lo + ks, hi - ks, [lo, hi]])
    pts = np.unique(pts)
    return pts[_members(s, pts)]


def _members(s: sp.Set, pts: np.ndarray) -> np.ndarray:
    """Whether each point lies in ``s``, as SymPy's ``contains`` says: decided by
    comparing doubles for the points of an interval (or a union of intervals) that lie
    clearly inside or outside it, and by SymPy for the few within 2^-40 (relative) of an
    end, where rounding an end to a double could change the answer."""
    if s is sp.S.Reals:
        return np.isfinite(pts)
    if isinstance(s, sp.Union):
        out = np.zeros(pts.shape, dtype=bool)
        for part in s.args:
            out |= _members(part, pts)
        return out
    if isinstance(s, sp.Interval) and s.start.is_comparable and s.end.is_comparable:
        lo, hi = float(s.start), float(s.end)
        near = np.zeros(pts.shape, dtype=bool)
        for end in (lo, hi):
            if math.isfinite(end):
                near |= np.abs(pts - end) <= 2.0 ** -40 * max(abs(end), 1e-300)
        out = (pts > lo) & (pts < hi) & ~near
        for j in np.flatnonzero(near):
            out[j] = _contains(s, float(pts[j]))
        return out
    return np.array([_contains(s, float(p)) for p in pts], dtype=bool)


def _contains(s: sp.Set, v: float) -> bool:
    try:
        return bool(s.contains(sp.Float(v)) is sp.true)
    except (TypeError, ValueError):
        return False


def few(s: sp.Set, default: float | None = None) -> list[float]:
    """A handful of values of a set, the default first."""
    if isinstance(s, sp.FiniteSet):
        vals = [float(v) for v in s.args]
    else:
        lo, hi = set_hull(s)
        if math.isinf(lo) and math.isinf(hi):
            vals = [0.0, 1.0, -1.0, 3.0, -3.0, 10.0]
        elif math.isinf(hi):
            vals = [lo + d for d in (0.1, 0.5, 1.0, 2.0, 5.0, 20.0)]
        elif math.isinf(lo):
            vals = [hi - d for d in (0.1, 0.5, 1.0, 2.0, 5.0, 20.0)]
        else:
            vals = [lo + (hi - lo) * f for f in (1.0, 0.0, 0.5, 0.25, 0.75, 0.01, 0.99)]
        vals = [v for v in vals if _contains(s, v)]
    if default is not None:
        vals = [default] + [v for v in vals if v != default]
    return vals


def numeric_roots(g: sp.Expr, x: sp.Symbol, xset: sp.Set, most: int = 6):
    """Roots of g (free of everything but x) from sign changes on the grid, by bisection."""
    if g.free_symbols - {x}:
        return []
    xs = grid(xset)
    ys = np_function(g, [x])(xs)
    out = []
    for k in np.where(np.isfinite(ys[:-1]) & np.isfinite(ys[1:]) & (np.sign(ys[:-1]) * np.sign(ys[1:]) <= 0))[0]:
        if ys[k] == 0:
            out.append(sp.Float(xs[k], 60))
            continue
        if ys[k + 1] == 0:
            continue
        try:
            with mpmath.workdps(60):
                f = lambda v: mp_value(g, {x: v}, 60)
                r = mpmath.findroot(f, (mpmath.mpf(float(xs[k])), mpmath.mpf(float(xs[k + 1]))),
                                    solver="anderson")
            out.append(sp.Float(mpmath.nstr(r, 55), 60))
        except (ValueError, ZeroDivisionError, TypeError):
            continue
        if len(out) >= most:
            break
    return out


def contexts(problem: Problem, symbols, limit: int = 120) -> list[dict]:
    """Assignments of the context symbols: every default first, then spread values."""
    symbols = list(symbols)
    if not symbols:
        return [{}]
    choices = [few(problem.ranges[s], problem.values.get(s)) for s in symbols]
    # defaults first, then one value changed, then two, ...
    combos = sorted(itertools.islice(itertools.product(*[range(len(c)) for c in choices]), 5000),
                    key=lambda idx: (sum(i > 0 for i in idx), idx))
    out = []
    for idx in combos:
        pt = {s: c[i] for s, c, i in zip(symbols, choices, idx)}
        if problem.constraint_holds(pt):
            out.append(pt)
        if len(out) >= limit:
            break
    return out


def to_names(point: dict) -> dict:
    """symbol -> value  ->  name -> float (for reports)."""
    return {s.name: float(v) for s, v in sorted(point.items(), key=lambda kv: kv[0].name)}
