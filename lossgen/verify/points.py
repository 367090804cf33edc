"""Test points for a spec: random points in each input's domain, and special points.

Special points are where kernels most often go wrong: each kink of the loss (where an
``Abs``, ``Max``/``Min``, ``sign``, ``Heaviside`` argument or a ``Piecewise``
condition changes sign) and its float neighbours, zero residual (prediction equal to
target), and the edges of each input's domain.  Kinks are found by solving, for the
first differentiable input, each kink expression = 0 with the other inputs fixed.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..spec.model import Domain, Spec

# (center, width): normal(0, 3) for real inputs keeps most points between kinks at ±1..±5
_REAL_SCALE = 3.0


def sample_domain(domain: Domain, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random float64 values inside ``domain``."""
    if domain.values is not None:
        return rng.choice(np.array(domain.values, dtype=np.float64), size=n)
    lo, hi = domain.lo, domain.hi
    if math.isinf(lo) and math.isinf(hi):
        return rng.normal(0.0, _REAL_SCALE, size=n)
    if math.isinf(hi):
        return lo + rng.lognormal(0.0, 1.0, size=n)
    if math.isinf(lo):
        return hi - rng.lognormal(0.0, 1.0, size=n)
    return rng.uniform(lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo), size=n)


def random_points(spec: Spec, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """One array per input, ``n`` points each."""
    return [sample_domain(i.domain, rng, n) for i in spec.inputs]


def kink_expressions(expr: sp.Expr) -> list[sp.Expr]:
    """Expressions whose zero set holds the kinks (and branch switches) of ``expr``."""
    found: list[sp.Expr] = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Abs, sp.sign, sp.Heaviside)):
            found.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            args = node.args
            found += [args[a] - args[b] for a in range(len(args)) for b in range(a + 1, len(args))]
        elif isinstance(node, sp.Piecewise):
            for _, cond in node.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    found.append(rel.lhs - rel.rhs)
    unique = []
    for e in found:
        if e.free_symbols and not any(sp.simplify(e - u) == 0 or sp.simplify(e + u) == 0 for u in unique):
            unique.append(e)
    return unique


def edge_values(domain: Domain) -> list[float]:
    """Values at (or just inside) the domain's edges."""
    if domain.values is not None:
        return list(domain.values)
    out = []
    if not math.isinf(domain.lo):
        out.append(domain.lo if not domain.lo_open else domain.lo + 1e-12)
    if not math.isinf(domain.hi):
        out.append(domain.hi if not domain.hi_open else domain.hi - 1e-12)
    return out


#: The top binade of the double range, where a loss whose value is still representable
#: may overflow in an intermediate (``2*target``, ``r**2``, a
#: difference of two inputs of opposite signs, ``0*inf`` from a term switched off by a
#: parameter).
NEAR_OVERFLOW = (2.0 ** 1023,)
#: The bottom of the range: a prediction equal to a subnormal target, where 1/pred
#: overflows although (target - pred)/pred is 0.
NEAR_UNDERFLOW = (5e-324, 2.0 ** -1022)


def near_overflow_rows(spec: Spec, base: list[float]) -> list[list[float]]:
    """Rows at the top of the double range: each input at ±m for m in
    :data:`NEAR_OVERFLOW`, the other inputs at ``base``, at ±2 where their domain allows
    (a moderate value that a result is divided by: 2*target/pred**3 at pred = 2 is
    representable where 2*target is not), or one of them at an edge of its domain (a
    label 0 or 1: where a term switched off by the label multiplies an overflow), and
    each pair of inputs at opposite signs ±2**1023, where their
    difference overflows although a result scaled down from it need not; and all inputs
    at once at ±m for m in :data:`NEAR_UNDERFLOW`."""
    rows: list[list[float]] = []
    ks = [k for k, i in enumerate(spec.inputs) if i.domain.values is None]

    def add(assign):
        row = [assign.get(j, b) for j, b in enumerate(base)]
        if all(spec.inputs[k].domain.contains(v) for k, v in assign.items()) and row not in rows:
            rows.append(row)
    for k in ks:
        for m in NEAR_OVERFLOW:
            for v in (m, -m):
                add({k: v})
                for w in (2.0, -2.0):
                    add({k: v, **{j: w for j, i in enumerate(spec.inputs) if j != k and i.domain.contains(w)}})
                for l, other in enumerate(spec.inputs):
                    if l != k:
                        for e in edge_values(other.domain):
                            add({k: v, l: e})
    for m in NEAR_UNDERFLOW:
        for v in (m, -m):
            add({j: v for j in ks if spec.inputs[j].domain.contains(v)})
    top = NEAR_OVERFLOW[-1]
    for a, k in enumerate(ks):
        for l in ks[a + 1:]:
            for v in (top, -top):
                add({k: v, l: -v})
    return rows


#: one input at the top of the range, another at a moderate or large value
LARGE_PAIR_TOP = (1e200, float(np.finfo(np.float64).max))
LARGE_PAIR_OTHER = (2.0, 1e50, 1e100)


def large_pair_rows(spec: Spec, base: list[float]) -> list[list[float]]:
    """Rows with one input huge and another large or moderate, the rest at ``base``:
    where a result stays representable although a partial product of the form as
    derived does not (gaussian_nll's d/dvar = (1 - r^2/v)/(2v) at r = 1e200, v = 1e50:
    r^2/v overflows, r^2/(2v^2) does not; tweedie's Hessian at target = the largest
    double, pred = 2, where p*target overflows)."""
    rows = []
    ks = [k for k, i in enumerate(spec.inputs) if i.domain.values is None]
    for k in ks:
        for m in LARGE_PAIR_TOP:
            for v in (m, -m):
                for l in ks:
                    for w in LARGE_PAIR_OTHER:
                        row = list(base)
                        row[k], row[l] = v, w
                        if l != k and spec.inputs[k].domain.contains(v) and spec.inputs[l].domain.contains(w):
                            rows.append(row)
    return rows


def special_points(spec: Spec, rng: np.random.Generator, per_kink: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    """Kinks with their float neighbours, zero residual and domain edges.

    Returns (one array per input, a boolean mask marking points exactly at a kink,
    where only the value, not a derivative, is well defined).
    """
    if not spec.inputs:
        return [], np.zeros(0, bool)
    x = spec.differentiable_inputs[0] if spec.differentiable_inputs else spec.prediction
    kx = [k for k, i in enumerate(spec.inputs) if i is x][0]
    defaults = {p.symbol: sp.Float(p.default) for p in spec.params}
    rows: list[list[float]] = []
    at_kink: list[bool] = []
    for kexpr in kink_expressions(spec.loss):
        if x.symbol not in kexpr.free_symbols:
            continue
        for _ in range(per_kink):
            base = [float(sample_domain(i.domain, rng, 1)[0]) for i in spec.inputs]
            subs = dict(defaults)
            subs.update({i.symbol: sp.Float(v) for i, v in zip(spec.inputs, base) if i is not x})
            try:
                sols = sp.solve(kexpr.xreplace(subs), x.symbol)
            except (NotImplementedError, TypeError, ValueError):
                continue
            for s in sols:
                if not s.is_real:
                    continue
                xs = float(s)
                if not (math.isfinite(xs) and x.domain.contains(xs)):
                    continue
                for v, exact in ((xs, True), (np.nextafter(xs, np.inf), False), (np.nextafter(xs, -np.inf), False),
                                 (xs + 1e-6 * (1 + abs(xs)), False), (xs - 1e-6 * (1 + abs(xs)), False)):
                    if x.domain.contains(float(v)):
                        row = list(base)
                        row[kx] = float(v)
                        rows.append(row)
                        at_kink.append(exact)
    # zero residual and domain edges
    base = [float(sample_domain(i.domain, rng, 1)[0]) for i in spec.inputs]
    for k, inp in enumerate(spec.inputs):
        if inp.role == "target" and inp.domain == x.domain:
            row = list(base)
            row[kx] = row[k]
            rows.append(row)
            at_kink.append(False)
        for e in edge_values(inp.domain):
            row = list(base)
            row[k] = e
            rows.append(row)
            at_kink.append(False)
    if not rows:
        return [np.zeros(0) for _ in spec.inputs], np.zeros(0, bool)
    arr = np.array(rows, dtype=np.float64)
    return [arr[:, k].copy() for k in range(len(spec.inputs))], np.array(at_kink, dtype=bool)
