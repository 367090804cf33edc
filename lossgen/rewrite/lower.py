r"""Lowering: pick, for every expression a kernel computes, the most accurate of a few
equivalent forms, and verify a spec's own ``numeric`` form.

For the loss and each derivative the candidates are the expression as written or
derived, the rule table applied (:mod:`.rules`), the expression factored, and, if small,
simplified; when the spec gives a ``numeric`` form, also that form and its derivatives.
Every candidate is an identity of the mathematics, so the choice affects accuracy
only.  Each candidate is evaluated in float64 (:mod:`lossgen.verify.floats`) on a
deterministic probe grid (random points of each input's domain, magnitudes from 1e-12
to 1e6, kink neighbours) and compared with the truth from mpmath at 50 digits:

    typical error = |float - truth| / ulp(max(|truth|, median |truth|))
    relative error = |float - truth| / ulp(max(|truth|, smallest normal))

Candidates are ranked by the sum of the power-of-two buckets (log2, rounded up) of their
worst typical and worst relative errors, so a form that cancels somewhere loses to one
that does not, while quantities that cancel in every form are ranked by their typical
error; then by the typical bucket alone, then by the number of operations.  No
timing enters the choice, so the generated code is reproducible byte for byte.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from ..derive.derivatives import Derivatives, almost_everywhere, tidy
from ..errors import SpecError
from ..spec.model import Spec
from ..verify.floats import float_function
from ..verify.points import random_points, special_points
from ..verify.truth import mp_function, spec_args
from .rules import apply_rules

#: Expressions up to this many operations are factored / simplified as candidates.
FACTOR_MAX_OPS = 120
SIMPLIFY_MAX_OPS = 80
PROBE_RANDOM = 32
_TINY = 2.2250738585072014e-308


def _bucket(err: float) -> float:
    """Power-of-two bucket of an error in ulps (errors under 1 ulp share bucket 0)."""
    if not math.isfinite(err):
        return math.inf
    return math.ceil(math.log2(err)) if err > 1 else 0
MAGNITUDES = (1e-12, 1e-4, 0.3, 3.0, 40.0, 800.0, 1e6)


@dataclass(frozen=True)
class Choice:
    """The form chosen for one expression, how it was obtained, and its measured error."""

    expr: sp.Expr
    how: str
    max_ulp: float          # worst typical error on the probe grid
    max_rel_ulp: float      # worst relative error on the probe grid
    candidates: int


@dataclass(frozen=True)
class Lowered:
    loss: Choice
    grad: tuple[Choice, ...]
    hess: tuple[tuple[Choice, ...], ...]

    def hess_diag(self) -> tuple[Choice, ...]:
        return tuple(self.hess[k][k] for k in range(len(self.grad)))


def probe_grid(spec: Spec) -> list[np.ndarray]:
    """Deterministic probe points: one float64 array per input."""
    rng = np.random.default_rng(0)
    cols = [list(c) for c in random_points(spec, rng, PROBE_RANDOM)]
    base = [c[0] for c in cols]
    for k, inp in enumerate(spec.inputs):
        if inp.domain.values is not None:
            continue
        for m in MAGNITUDES:
            for v in (m, -m):
                if inp.domain.contains(v):
                    for j, col in enumerate(cols):
                        col.append(v if j == k else base[j])
    # residual-type points: a prediction close to a target of the same domain
    for k, inp in enumerate(spec.inputs):
        if inp.role != "target" or inp.domain.values is not None:
            continue
        for kp, p in enumerate(spec.inputs):
            if p.differentiable and p.domain == inp.domain:
                for eps in (1e-12, 1e-6, 1e-3):
                    for j, col in enumerate(cols):
                        col.append(base[k] * (1 + eps) if j == kp else base[j])
    pts, at_kink = special_points(spec, rng, per_kink=1)
    for j, col in enumerate(cols):
        col.extend(np.asarray(pts[j])[~at_kink] if len(pts) else [])
    return [np.array(c, dtype=np.float64) for c in cols]


class _Scorer:
    """Measures candidate forms of one quantity against its high-precision truth."""

    def __init__(self, truth_expr: sp.Expr, args, grid, params):
        self.args = args
        self.grid = grid
        self.params = params
        f = mp_function(truth_expr, args)
        n = len(grid[0])
        truths = []
        for j in range(n):
            try:
                t = f(*[c[j] for c in grid], *params)
            except (ValueError, TypeError, ZeroDivisionError, OverflowError):
                t = mpmath.nan
            truths.append(t if isinstance(t, mpmath.mpf) else mpmath.nan)
        self.truths = truths
        self.ok = np.array([mpmath.isfinite(t) and abs(t) < 1e300 for t in truths])
        finite = np.array([float(t) if ok else 0.0 for t, ok in zip(truths, self.ok)])
        typical = np.abs(finite[:PROBE_RANDOM][self.ok[:PROBE_RANDOM]])
        self.floor = float(np.median(typical)) if typical.size else 0.0
        self.t64 = finite

    def error(self, expr: sp.Expr) -> tuple[float, float]:
        """(worst typical error, worst relative error) in ulps."""
        values = float_function(expr, self.args)(*self.grid, *[np.full(len(self.grid[0]), p) for p in self.params])
        typical = relative = 0.0
        for j in np.flatnonzero(self.ok):
            v = values[j]
            if not math.isfinite(v):
                return math.inf, math.inf
            diff = abs(mpmath.mpf(v) - self.truths[j])
            t = abs(self.t64[j])
            typical = max(typical, float(diff / float(np.spacing(max(t, self.floor, _TINY)))))
            relative = max(relative, float(diff / float(np.spacing(max(t, _TINY)))))
        return typical, relative


def _variants(expr: sp.Expr, named: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()) -> list[tuple[str, sp.Expr]]:
    """Equivalent forms of ``expr``.  Factoring and simplifying happen with the spec's
    named subexpressions held as symbols (so ``r = pred - target`` is never expanded
    into ``pred**2 - 2*pred*target + target**2``), then substituted back."""
    out = [("as written", expr), ("rules", apply_rules(expr))]
    abstract = _abstract(expr, named)
    ops = sp.count_ops(abstract)

    def concrete(e):
        for sym, full in named:
            e = e.xreplace({sym: full})
        return e
    if ops <= FACTOR_MAX_OPS:
        f = concrete(_piecewise_map(sp.factor, abstract))
        out += [("factored", f), ("factored+rules", apply_rules(f))]
    if ops <= SIMPLIFY_MAX_OPS:
        s = concrete(_piecewise_map(sp.simplify, abstract))
        out += [("simplified", s), ("simplified+rules", apply_rules(s))]
    return out


def _abstract(expr: sp.Expr, named: tuple[tuple[sp.Symbol, sp.Expr], ...]) -> sp.Expr:
    """Replace each named subexpression (latest first) by its symbol."""
    for sym, full in reversed(named):
        expr = expr.subs(full, sym)
    return expr


def _piecewise_map(fn, expr: sp.Expr) -> sp.Expr:
    """Apply ``fn`` to each branch of a top-level Piecewise (conditions untouched)."""
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(fn(v), c) for v, c in expr.args])
    return fn(expr)


def choose(scorer: _Scorer, bases: list[tuple[str, sp.Expr]],
           named: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()) -> Choice:
    seen: list[sp.Expr] = []
    best = None
    for prefix, base in bases:
        for how, cand in _variants(almost_everywhere(base), named):
            if any(cand == s for s in seen):
                continue
            seen.append(cand)
            err, rel = scorer.error(cand)
            key = (_bucket(err) + _bucket(rel), _bucket(err), sp.count_ops(cand))
            label = f"{prefix}, {how}" if prefix else how
            if best is None or key < best[0]:
                best = (key, cand, label, err, rel)
    _, expr, how, err, rel = best
    return Choice(expr, how, err, rel, len(seen))


def check_numeric(spec: Spec, grid, params) -> None:
    """Refuse a spec whose ``numeric`` form differs from its ``loss`` anywhere on the grid."""
    numeric = spec.extra.get("numeric")
    if numeric is None:
        return
    args = spec_args(spec)
    f, g = mp_function(spec.loss, args), mp_function(numeric, args)
    for j in range(len(grid[0])):
        vals = [c[j] for c in grid] + list(params)
        try:
            a, b = f(*vals), g(*vals)
        except (ValueError, TypeError, ZeroDivisionError):
            continue
        if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
            continue
        if abs(a - b) > mpmath.mpf(10) ** -30 * (1 + abs(a)):
            point = ", ".join(f"{n}={v:.17g}" for n, v in zip([s.name for s in args], vals))
            raise SpecError(f"the numeric form is not equal to the loss: at {point} the loss is "
                            f"{mpmath.nstr(a, 17)} but the numeric form gives {mpmath.nstr(b, 17)}",
                            file=spec.source_path, key="numeric")


def _named_subexpressions(spec: Spec) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """The spec's named subexpressions with earlier names substituted (only inputs and
    params remain), in spec order."""
    out: list[tuple[sp.Symbol, sp.Expr]] = []
    for sym, body in spec.subexpressions:
        full = body
        for prev, prev_full in out:
            full = full.xreplace({prev: prev_full})
        if full.free_symbols and not full.is_Symbol:
            out.append((sp.Dummy(sym.name, real=True), full))
    return tuple(out)


def lower(spec: Spec, derivs: Derivatives | None) -> Lowered:
    """Choose the most accurate form of the loss and of each derivative."""
    args = spec_args(spec)
    params = [p.default for p in spec.params]
    grid = probe_grid(spec)
    named = _named_subexpressions(spec)
    check_numeric(spec, grid, params)
    numeric = spec.extra.get("numeric")
    alt = [("numeric", numeric)] if numeric is not None else []
    loss = choose(_Scorer(spec.loss, args, grid, params), [("", spec.loss)] + alt, named)
    if derivs is None:
        return Lowered(loss, (), ())
    grads, hess = [], []
    wrt = derivs.wrt
    for a, va in enumerate(wrt):
        bases = [("", derivs.grad[a])]
        if numeric is not None:
            bases.append(("numeric", tidy(sp.diff(numeric, va))))
        grads.append(choose(_Scorer(sp.diff(spec.loss, va), args, grid, params), bases, named))
    for a, va in enumerate(wrt):
        row = []
        for b, vb in enumerate(wrt):
            if b < a:
                row.append(hess[b][a])
                continue
            bases = [("", derivs.hess[a][b])]
            if numeric is not None:
                bases.append(("numeric", tidy(sp.diff(numeric, va, vb))))
            row.append(choose(_Scorer(sp.diff(spec.loss, va, vb), args, grid, params), bases, named))
        hess.append(tuple(row))
    return Lowered(loss, tuple(grads), tuple(hess))
