r"""Suprema of :math:`|g(x)|` over a set: symbolically, or numerically (and said so).

**Symbolic** (:func:`sup_abs`).  ``sign``/``Heaviside``/``Abs``/``Max``/``Min`` are
rewritten as ``Piecewise``; each branch lives on its region (:mod:`.kinks`), and on
each interval of a region the supremum of :math:`|g|` is attained at one of

* a finite end (the branch's one-sided value there),
* an infinite end (:math:`\lim_{x \to \pm\infty}`),
* a critical point inside (a root of :math:`g'`).

So :math:`\sup |g| = \max |\text{candidates}|`, kept as a SymPy expression in the
parameters (``Max`` of several when they cannot be ordered), or :math:`\infty` when a
candidate is infinite.  A critical point whose membership in its interval depends on
the parameters is decided at the given/default values.

**Numeric** (:func:`numeric_sup_abs`): a float64 scan of the variable and of any
remaining continuous inputs, refined by golden-section search in mpmath, and checked
for growth towards every infinite or open end (:math:`|g|` at
:math:`10^{8}, 10^{16}, 10^{32}` or :math:`10^{-8}, 10^{-16}, 10^{-32}` from a finite end).
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from ..primitives import to_elementary
from .budget import attempt
from .kinks import components, one_sided, piecewise_in, regions
from .numeric import grid, hp, mp_value, np_function
from .problem import Problem, set_hull

_SWITCHES = (sp.sign, sp.Heaviside, sp.Max, sp.Min)


def _rewrite(e: sp.Expr, x: sp.Symbol) -> sp.Expr:
    if not e.args or x not in e.free_symbols:
        return e
    if isinstance(e, sp.Piecewise):
        return sp.Piecewise(*[(_rewrite(b, x), c) for b, c in e.args])   # conditions untouched
    args = [_rewrite(a, x) for a in e.args]
    e = e.func(*args) if args != list(e.args) else e
    return e.rewrite(sp.Piecewise) if isinstance(e, _SWITCHES) else e


def as_piecewise(g: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """``sign``/``Heaviside``/``Max``/``Min`` in ``x`` as Piecewise, folded to the top."""
    g = _rewrite(g, x)
    return attempt(sp.piecewise_fold, 3.0, g) if g.has(sp.Piecewise) else g


def candidates(g: sp.Expr, x: sp.Symbol, xset: sp.Set, num: dict):
    """Values whose largest magnitude is sup |g| over xset (see module doc), or None."""
    g = as_piecewise(to_elementary(g), x)
    if g is None:
        return None
    if piecewise_in(g, x):
        regs = regions(g, x, xset)
    else:
        regs = [(g, xset)]
    if regs is None:
        return None
    out = []
    pieces = []
    for branch, region in regs:
        comps = components(region)
        if comps is None:
            return None
        # a value at a single point (a kink) does not bound |g| almost everywhere
        pieces += [(branch, c) for c in comps if not isinstance(c, sp.FiniteSet)]
    for branch, c in pieces:     # the ends first: an infinite one settles it
        for end, side in ((c.inf, "right"), (c.sup, "left")):
            if end.is_infinite:
                v = attempt(sp.limit, 4.0, branch, x, end)
            else:
                v = one_sided(branch, x, end, side)
            if v is None or v.has(sp.Limit, sp.AccumBounds, sp.nan):
                return None
            if v.has(sp.oo, -sp.oo, sp.zoo):
                return [sp.oo]
            out.append(v)
    for branch, c in pieces:
        if x not in branch.free_symbols:
            out.append(branch)
            continue
        crit = attempt(sp.solve, 4.0, sp.diff(branch, x), x)
        if crit is None:
            return None
        for s in crit:
            inside = c.contains(s)
            if inside not in (sp.true, sp.false):   # decided at the given/default parameters
                try:
                    inside = inside.xreplace(num)
                except (TypeError, ValueError):
                    return None
            if inside is sp.true:
                out.append(branch.xreplace({x: s}))
    return out


def tidy(e: sp.Expr, ranges: dict) -> sp.Expr:
    """Abs(a) -> a or -a and Max arguments dominated by another one dropped, where the
    sign is proved over the parameter ranges (:mod:`.signs`)."""
    from .signs import NONNEG, NONPOS, sign_of

    def abs_rule(a):
        s = sign_of(a.args[0], ranges)
        return a.args[0] if s in NONNEG else (-a.args[0] if s in NONPOS else a)
    e = e.replace(lambda v: isinstance(v, sp.Abs), abs_rule)

    def max_rule(m):
        keep = list(m.args)
        for a in m.args:
            if any(b is not a and b in keep and sign_of(b - a, ranges) in NONNEG for b in keep):
                keep.remove(a)
        return sp.Max(*keep) if len(keep) != len(m.args) else m
    return e.replace(lambda v: isinstance(v, sp.Max), max_rule)


def sup_abs(g: sp.Expr, x: sp.Symbol, xset: sp.Set, num: dict):
    """sup |g| over xset as a SymPy expression (sp.oo when unbounded), or None."""
    cands = candidates(g, x, xset, num)
    if cands is None or not cands:
        return None
    if any(c.has(sp.oo, -sp.oo, sp.zoo) for c in cands):
        return sp.oo
    mags = []
    for c in cands:
        m = attempt(sp.simplify, 2.0, sp.Abs(c))
        if m is None:
            return None
        if m not in mags:
            mags.append(m)
    top = attempt(lambda: sp.Max(*mags), 3.0)
    if top is None:
        return None
    return attempt(sp.simplify, 3.0, top) or top


def tail_limits(g: sp.Expr, x: sp.Symbol, xset: sp.Set):
    """[lim g at each infinite end of xset] (None entries when not found)."""
    out = []
    lo, hi = set_hull(xset)
    for end, inf in ((-sp.oo, math.isinf(lo)), (sp.oo, math.isinf(hi))):
        if inf:
            e = to_elementary(g)
            if piecewise_in(as_piecewise(e, x) or e, x):
                out.append(None)
                continue
            out.append(attempt(sp.limit, 4.0, e, x, end))
    return out


def _golden(f, a, b, steps=60):
    """Maximise f on [a, b] (unimodal near the scan's best point)."""
    invphi = (mpmath.sqrt(5) - 1) / 2
    c, d = b - invphi * (b - a), a + invphi * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(steps):
        if fc is None or fd is None:
            break
        if fc > fd:
            b, d, fd = d, c, fc
            c = b - invphi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + invphi * (b - a)
            fd = f(d)
    vals = [v for v in (fc, fd) if v is not None]
    return max(vals) if vals else None


def _growth(f, starts) -> bool:
    """Whether |f| keeps growing along a sequence of points 10^8, 10^16, 10^32 (or to a
    finite end): a jump by 10^6, or increments that do not shrink (log-like growth)."""
    for seq in starts:
        vals = [f(p) for p in seq]
        if any(v is None for v in vals):
            continue
        a, b, c = vals
        if c > 1e6 * max(1, a) and c > b * 10:
            return True
        if c > b > a and (c - b) >= 1.5 * (b - a) and (b - a) > 1e-6 * abs(b):
            return True
    return False


def numeric_sup_abs(problem: Problem, g: sp.Expr, x: sp.Symbol, xset: sp.Set, deadline=None):
    """(value or inf, where) of sup |g| at the given/default parameters, by scanning."""
    num = {p: problem.values[p] for p in problem.params}
    g = g.xreplace({p: sp.nsimplify(v, rational=True) for p, v in num.items()})
    others = sorted(g.free_symbols - {x}, key=lambda s: s.name)
    f = np_function(g, [x] + others)
    xs = grid(xset)
    ctx_list = _input_grid(problem, others)
    cols = {s: np.array([c[s] for c in ctx_list]) for s in others}
    X = np.repeat(xs[None, :], len(ctx_list), axis=0)
    vals = np.abs(f(X, *[np.repeat(cols[s][:, None], len(xs), axis=1) for s in others]))
    vals[~np.isfinite(vals)] = -1.0
    if vals.size == 0 or vals.max() < 0:
        return None, {}
    i, k = np.unravel_index(int(np.argmax(vals)), vals.shape)
    best, where = float(vals[i, k]), (int(k), ctx_list[i])
    k, ctx = where
    point = {s: hp(v) for s, v in ctx.items()}
    fx = lambda v: _abs_or_none(mp_value(g, {x: v, **point}) if g.free_symbols else hp(g))
    if _unbounded(fx, xset) or any(_unbounded(
            lambda v, s=s: _abs_or_none(mp_value(g, {x: hp(float(xs[k])), **point, s: v})), problem.ranges[s])
            for s in others):
        return math.inf, {x.name: float(xs[k]), **{s.name: float(v) for s, v in ctx.items()}}
    a, b = xs[max(k - 1, 0)], xs[min(k + 1, len(xs) - 1)]
    refined = _golden(fx, hp(float(a)), hp(float(b))) if b > a else None
    value = max(best, float(refined)) if refined is not None else best
    return value, {x.name: float(xs[k]), **{s.name: float(v) for s, v in ctx.items()}}


def _abs_or_none(v):
    return None if v is None else abs(v)


def _unbounded(f, s: sp.Set) -> bool:
    with mpmath.workdps(60):
        return _growth(f, _approaches(s))


def _approaches(s: sp.Set):
    lo, hi = set_hull(s)
    seqs = []
    if math.isinf(hi):
        seqs.append([hp(10.0 ** k) for k in (8, 16, 32)])
    if math.isinf(lo):
        seqs.append([hp(-(10.0 ** k)) for k in (8, 16, 32)])
    if not math.isinf(lo) and s.contains(lo) is not sp.true:
        seqs.append([hp(lo) + hp(10.0 ** -k) * max(1, abs(lo)) for k in (8, 16, 32)])
    if not math.isinf(hi) and s.contains(hi) is not sp.true:
        seqs.append([hp(hi) - hp(10.0 ** -k) * max(1, abs(hi)) for k in (8, 16, 32)])
    return seqs


def _input_grid(problem: Problem, others) -> list[dict]:
    if not others:
        return [{}]
    per = []
    for s in others:
        pts = grid(problem.ranges[s])
        if len(pts) > 40:
            pts = pts[np.linspace(0, len(pts) - 1, 40).astype(int)]
        per.append(pts)
    mesh = np.meshgrid(*per, indexing="ij")
    return [{s: float(m.ravel()[i]) for s, m in zip(others, mesh)} for i in range(mesh[0].size)][:4000]


__all__ = ["numeric_sup_abs", "sup_abs", "tail_limits"]
