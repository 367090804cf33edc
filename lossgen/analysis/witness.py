r"""Witnesses of non-convexity, found by scanning and confirmed in high precision.

A witness is a point (every input and parameter of the spec) where one of these holds,
each checked with mpmath at 50 and again at 100 digits (the two must agree):

* ``negative second derivative``: :math:`\partial^2 L / \partial x^2 < 0` (the exact
  derivative, away from kinks);
* ``negative Hessian eigenvalue``: the smallest eigenvalue of the Hessian in the
  differentiable inputs is :math:`< 0` (``mpmath.eigsy``);
* ``concave kink``: the first derivative jumps *down* at :math:`x_0`
  (:math:`f'(x_0^+) < f'(x_0^-)`), and the chord inequality fails there:
  :math:`f(x_0) > \tfrac12 (f(x_0 - h) + f(x_0 + h))`;
* ``chord``: three points :math:`a < m < b` with :math:`f(m)` above the chord from
  :math:`(a, f(a))` to :math:`(b, f(b))` — the definition of convexity, violated (this
  also catches jumps of the loss itself).

Each is a proof that the loss is not convex, given the exact value at one point.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from .numeric import (confirmed_negative, contexts, grid, hp, mp_value, no_dirac, np_function, numeric_roots,
                      to_names)
from .problem import Problem, View


@dataclass
class Witness:
    kind: str
    input: str
    point: dict
    value: str
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "input": self.input, "point": self.point, "value": self.value, **self.detail}


def full_point(problem: Problem, view: View, x, ctx: dict) -> dict:
    """Every spec input and parameter at a point of a view (floats, by name)."""
    pt = {view.var: x, **ctx}
    pt.update({s: v for s, v in view.subs.items()})
    for s in problem.inputs + problem.params:
        if s not in pt:
            pt[s] = problem.values.get(s, 0.0)
    return to_names({s: float(v) for s, v in pt.items()})


def _nstr(v) -> str:
    return mpmath.nstr(v, 15)


def _ctx_symbols(expr: sp.Expr, view: View):
    return sorted(expr.free_symbols - {view.var}, key=lambda s: s.name)


def second_derivative(problem: Problem, view: View, f2: sp.Expr, deadline=None, limit: int = 120):
    """A confirmed point where the (a.e.) second derivative ``f2`` of the view is negative."""
    f2 = no_dirac(f2)
    ctx_syms = _ctx_symbols(f2, view)
    f = np_function(f2, [view.var] + ctx_syms)
    xs = grid(view.var_set)
    for ctx in contexts(problem, ctx_syms, limit):
        if deadline is not None and deadline.expired():
            return None
        vals = f(xs, *[np.full_like(xs, float(ctx[s])) for s in ctx_syms])
        ok = np.isfinite(vals)
        if not ok.any():
            continue
        bad = np.where(ok & (vals < 0))[0]
        # the most negative values, then the most negative relative to their neighbourhood
        with np.errstate(all="ignore"):
            rel = vals[bad] / np.maximum(np.abs(xs[bad]) ** -2.0, 1.0)
        picks = list(dict.fromkeys(list(bad[np.argsort(vals[bad])][:3]) + list(bad[np.argsort(rel)][:3])))
        for k in picks:
            x = mpmath.mpf(float(xs[k]))
            v = confirmed_negative(f2, {view.var: x, **{s: ctx[s] for s in ctx_syms}})
            if v is not None:
                return Witness("negative second derivative", view.input, full_point(problem, view, x, ctx),
                               _nstr(v), {"variable": view.label, "digits": 100})
    return None


def chord_gap(f: sp.Expr, x, m, h, ctx: dict, dps: int = 50):
    """f(m) - chord value at m between m - h and m + h (positive: convexity fails)."""
    with mpmath.workdps(dps + 10):
        lo, hi = m - h, m + h
    a = mp_value(f, {x: lo, **ctx}, dps)
    b = mp_value(f, {x: hi, **ctx}, dps)
    c = mp_value(f, {x: m, **ctx}, dps)
    if None in (a, b, c):
        return None
    with mpmath.workdps(dps):
        return c - (a + b) / 2


def confirm_chord(problem: Problem, view: View, f: sp.Expr, m, ctx: dict, kind: str = "chord", detail=None):
    """A witness if the chord inequality fails around ``m`` (50 and 100 digits)."""
    m = mpmath.mpf(m)
    with mpmath.workdps(60):
        steps = [abs(m) * mpmath.mpf(10) ** -k if m != 0 else mpmath.mpf(10) ** -k for k in (3, 6, 1)]
    for h in steps:
        if h == 0:
            continue
        with mpmath.workdps(60):
            ends_ = (m - h, m + h)
        inside = all(view.var_set.contains(sp.Float(mpmath.nstr(v, 40), 40)) is sp.true for v in ends_)
        if not inside:
            continue
        g50 = chord_gap(f, view.var, m, h, ctx, 50)
        g100 = chord_gap(f, view.var, m, h, ctx, 100)
        if g50 is not None and g100 is not None and g50 > 0 and g100 > 0 and \
                abs(g50 - g100) <= abs(g100) * mpmath.mpf(10) ** -20:
            d = {"variable": view.label, "h": _nstr(h), "chord_gap": _nstr(g100), "digits": 100, **(detail or {})}
            return Witness(kind, view.input, full_point(problem, view, m, ctx), _nstr(-g100), d)
    return None


def _roots(g: sp.Expr, x: sp.Symbol, xset: sp.Set):
    from .kinks import solve_for
    sols = solve_for(g, x)
    if not sols:
        return numeric_roots(g, x, xset)
    out = []
    for s in sols or []:
        try:
            v = complex(sp.N(s, 60))
        except (TypeError, ValueError):
            continue
        if abs(v.imag) < 1e-30 and xset.contains(sp.Float(v.real, 30)) is sp.true:
            out.append(sp.N(s, 60))
    return out


def concave_kink(problem: Problem, view: View, f: sp.Expr, terms, ranges_ok, deadline=None, limit: int = 40):
    """A confirmed concave kink among Dirac terms ``(coefficient, argument)`` of f''."""
    for coeff, arg in terms:
        if ranges_ok(coeff):
            continue
        ctx_syms = _ctx_symbols(f + coeff + arg, view)
        for ctx in contexts(problem, ctx_syms, limit):
            if deadline is not None and deadline.expired():
                return None
            sub = {s: sp.nsimplify(v, rational=True) for s, v in ctx.items()}
            for x0 in _roots(arg.xreplace(sub), view.var, view.var_set):
                c = mp_value(coeff, {view.var: hp(x0), **ctx}) if coeff.free_symbols else \
                    hp(coeff)
                if c is None or c >= 0:
                    continue
                w = confirm_chord(problem, view, f, hp(x0), ctx, "concave kink",
                                  {"dirac_coefficient": _nstr(c)})
                if w is not None:
                    return w
    return None


def at_points(problem: Problem, view: View, f: sp.Expr, points, deadline=None, limit: int = 40):
    """A confirmed chord failure at one of ``points`` (symbolic in the context)."""
    for b in points:
        ctx_syms = _ctx_symbols(f + b, view)
        for ctx in contexts(problem, ctx_syms, limit):
            if deadline is not None and deadline.expired():
                return None
            v = mp_value(b, ctx) if b.free_symbols else hp(b)
            if v is None:
                continue
            w = confirm_chord(problem, view, f, v, ctx, "concave kink")
            if w is not None:
                return w
    return None


def chord_scan(problem: Problem, view: View, f: sp.Expr, deadline=None, limit: int = 60):
    """Scan for three grid points with the middle one above the chord, then confirm."""
    ctx_syms = _ctx_symbols(f, view)
    fn = np_function(f, [view.var] + ctx_syms)
    xs = grid(view.var_set)
    for ctx in contexts(problem, ctx_syms, limit):
        if deadline is not None and deadline.expired():
            return None
        y = fn(xs, *[np.full_like(xs, float(ctx[s])) for s in ctx_syms])
        a, m, b = xs[:-2], xs[1:-1], xs[2:]
        ya, ym, yb = y[:-2], y[1:-1], y[2:]
        chord = (ya * (b - m) + yb * (m - a)) / (b - a)
        gap = ym - chord
        scale = np.maximum(np.abs(ym), 1.0)
        cand = np.where(np.isfinite(gap) & (gap > 1e-9 * scale))[0]
        for k in cand[np.argsort(-gap[cand])][:3]:
            w = _confirm_triple(problem, view, f, xs[k], xs[k + 1], xs[k + 2], ctx)
            if w is not None:
                return w
    return None


def _confirm_triple(problem, view, f, a, m, b, ctx):
    vals = {}
    for dps in (50, 100):
        pa, pm, pb = (mp_value(f, {view.var: mpmath.mpf(float(v)), **ctx}, dps) for v in (a, m, b))
        if None in (pa, pm, pb):
            return None
        a_, m_, b_ = (mpmath.mpf(float(v)) for v in (a, m, b))
        with mpmath.workdps(dps):
            vals[dps] = pm - (pa * (b_ - m_) + pb * (m_ - a_)) / (b_ - a_)
    if vals[50] > 0 and vals[100] > 0:
        d = {"variable": view.label, "a": float(a), "b": float(b), "chord_gap": _nstr(vals[100]), "digits": 100}
        return Witness("chord", view.input, full_point(problem, view, mpmath.mpf(float(m)), ctx),
                       _nstr(-vals[100]), d)
    return None


def hessian_eigen(problem: Problem, xs: list, H, fixed: dict, deadline=None, limit: int = 40):
    """A confirmed point where the Hessian ``H`` (k x k SymPy) has a negative eigenvalue."""
    k = len(xs)
    entries = [[no_dirac(H[i][j]) for j in range(k)] for i in range(k)]
    allx = sp.Matrix(entries).xreplace(fixed)
    ctx_syms = sorted(allx.free_symbols - set(xs), key=lambda s: s.name)
    fns = [[np_function(allx[i, j], list(xs) + ctx_syms) for j in range(k)] for i in range(k)]
    axes = []
    for x in xs:
        pts = grid(problem.ranges[x])
        axes.append(pts[np.linspace(0, len(pts) - 1, min(len(pts), 25)).astype(int)] if len(pts) > 25 else pts)
    mesh = [m.ravel() for m in np.meshgrid(*axes, indexing="ij")]
    for ctx in contexts(problem, ctx_syms, limit):
        if deadline is not None and deadline.expired():
            return None
        cv = [np.full_like(mesh[0], float(ctx[s])) for s in ctx_syms]
        M = np.empty((mesh[0].size, k, k))
        for i in range(k):
            for j in range(k):
                M[:, i, j] = fns[i][j](*mesh, *cv)
        ok = np.all(np.isfinite(M), axis=(1, 2))
        if not ok.any():
            continue
        ev = np.full(mesh[0].size, np.inf)
        ev[ok] = np.linalg.eigvalsh(M[ok])[:, 0]
        for idx in np.argsort(ev)[:3]:
            if not ev[idx] < 0:
                break
            pt = {x: mpmath.mpf(float(m[idx])) for x, m in zip(xs, mesh)}
            pt.update(ctx)
            lam = _min_eig(allx, pt)
            if lam is not None and lam < 0:
                full = {**{s: float(v) for s, v in fixed.items()}, **{s: float(v) for s, v in pt.items()}}
                for s in problem.inputs + problem.params:
                    full.setdefault(s, problem.values.get(s, 0.0))
                return Witness("negative Hessian eigenvalue", ", ".join(x.name for x in xs), to_names(full),
                               _nstr(lam), {"digits": 100})
    return None


def _min_eig(M: sp.Matrix, pt: dict):
    out = []
    for dps in (50, 100):
        vals = [[mp_value(M[i, j], pt, dps) if M[i, j].free_symbols else hp(M[i, j])
                 for j in range(M.shape[1])] for i in range(M.shape[0])]
        if any(v is None for row in vals for v in row):
            return None
        with mpmath.workdps(dps):
            ev = mpmath.eigsy(mpmath.matrix(vals), eigvals_only=True)
            out.append(min(ev[i] for i in range(len(ev))))
    if out[0] < 0 and out[1] < 0:
        return out[1]
    return None
