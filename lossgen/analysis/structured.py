r"""Convexity of structured losses (reductions over an axis or the set).

**Proofs** extend the DCP rules of :mod:`.dcp` with the reduction atoms, each a
composition rule that holds for every number K of elements:

* ``sum_over``/``mean_over``: a non-negative combination — the body's curvature;
* ``logsumexp_over``, ``max_over``: convex and non-decreasing in every element;
* ``norm_over(e, p)``, p >= 1: convex when the body is affine;
* ``take(x, t)``: linear in x (a coordinate).

Constants' signs (e.g. the factor ``mean_over(weight)``) are decided over a box where
each reduction is replaced by a fresh symbol with a sound range: a mean or a max lies in
the hull of its body, a sum of non-negative terms is non-negative, a norm is >= 0, a
take lies in its input's range.  For a loss written in ``exp(input)`` coordinates
(KL's ``input`` is log q) the proof is also run in the probability q itself.

**Witnesses** of non-convexity: the loss is written out for a small size
(:mod:`lossgen.verify.structured_truth`) and a deterministic search looks for two points
a, b of the domain whose midpoint m has f(m) > (f(a) + f(b))/2; the gap is confirmed in
mpmath at 50 and at 100 digits.  Without a proof or a witness the verdict is "unknown".
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from ..spec.structure import (
    AxisReduction,
    logsumexp_over,
    max_over,
    mean_over,
    norm_over,
    sum_over,
    take,
)
from ..verify.structured_truth import element_symbols, expand
from .dcp import AFFINE, CONST, CONVEX, DCP, UNKNOWN
from .intervals import lower_upper
from .signs import NONNEG, sign_of

#: Sizes the witness search writes a loss out for (elements along the axis, or set rows).
WITNESS_SIZE = 2
WITNESS_TRIES = 400


class StructuredDCP(DCP):
    """DCP with the reduction atoms (see the module docstring)."""

    def curvature(self, e: sp.Expr) -> str:
        if not (e.free_symbols & self.vars):
            return CONST
        if isinstance(e, take):
            return AFFINE if e.args[0] in self.vars else UNKNOWN
        if isinstance(e, (sum_over, mean_over)):
            return self.curvature(e.args[0])
        if isinstance(e, (logsumexp_over, max_over)):
            return self.compose(CONVEX, "incr", [e.args[0]])
        if isinstance(e, norm_over):
            p = e.args[2] if len(e.args) > 2 else sp.Integer(2)
            if self.curvature(e.args[0]) in (CONST, AFFINE) and sign_of(p - 1, self.ranges) in NONNEG:
                return CONVEX
            return UNKNOWN
        return super().curvature(e)

    def sign(self, e):
        boxed, ranges = _boxed(e, self.ranges)
        return sign_of(boxed, ranges)


def _boxed(e: sp.Expr, ranges: dict):
    """``e`` with each reduction and take replaced by a symbol with a sound range."""
    ranges = dict(ranges)
    marks = {}
    for node in sorted(e.atoms(AxisReduction, take), key=sp.count_ops):
        if node in marks:
            continue
        body = node.args[0]
        hull = lower_upper(body.xreplace(marks), ranges)
        lo, hi = (float(hull[0]), float(hull[1])) if hull else (-math.inf, math.inf)
        if isinstance(node, (take, mean_over, max_over)):
            rng = (lo, hi)
        elif isinstance(node, sum_over):
            rng = (0.0 if lo >= 0 else -math.inf, 0.0 if hi <= 0 else math.inf)
        elif isinstance(node, norm_over):
            rng = (0.0, math.inf)
        else:  # logsumexp: at least the largest element
            rng = (lo, math.inf)
        sym = sp.Dummy("red", real=True, nonnegative=True) if rng[0] >= 0 else sp.Dummy("red", real=True)
        marks[node] = sym
        ranges[sym] = rng
    return e.xreplace(marks), ranges


def _dcp(problem, names) -> tuple[str, str] | None:
    """(curvature, how) of the loss in the inputs ``names`` by the structured DCP rules."""
    variables = [problem.input_symbol(n) for n in names]
    ranges = problem.box(problem.inputs + problem.params)
    curv = StructuredDCP(variables, ranges).curvature(problem.loss)
    return curv, "DCP with reduction atoms"


def _convex_in_probabilities(problem, name) -> bool:
    """Whether the loss at the default parameters is convex in q = exp(input) (an input of
    log-probabilities, as KL's): DCP on the loss with input = log q.  An input t that
    appears as xlogy(t, t) = t log t is a probability there (real only for t >= 0)."""
    x = problem.input_symbol(name)
    q = sp.Symbol(f"{name}_prob", positive=True)
    loss = problem.loss.xreplace(problem.param_values()).xreplace({x: sp.log(q)})
    ranges = problem.box(problem.inputs + problem.params) | {q: (0.0, math.inf)}
    from ..primitives import xlogy
    for node in loss.atoms(xlogy):
        if node.args[0] == node.args[1] and node.args[0] in ranges:
            lo, hi = ranges[node.args[0]]
            ranges[node.args[0]] = (max(lo, 0.0), hi)
    return StructuredDCP([q], ranges).curvature(loss) in (CONST, AFFINE, CONVEX)


def witness(problem, name: str, deadline=None) -> dict | None:
    """Two points and a midpoint where the chord lies below the loss (in ``name``), confirmed
    at 50 and 100 digits; None when the search finds none."""
    spec = problem.spec
    from ..derive.reductions import row_program
    prog = row_program(spec)
    size = WITNESS_SIZE
    elems = element_symbols(spec, size, prog.is_set)
    indices = {idx: 0 for idx in prog.index_inputs}
    f = expand(spec, spec.loss, size, elems, indices).xreplace(problem.param_values() | {
        p.symbol: sp.nsimplify(problem.values[problem.by_name[p.name]], rational=True) for p in spec.params})
    f = f.xreplace({s: problem.by_name[s.name] for s in f.free_symbols if s.name in problem.by_name})
    var = elems.get(name, [problem.input_symbol(name)])
    others = sorted(f.free_symbols - set(var), key=str)
    rng = np.random.default_rng(0)
    # stable primitives (softplus, xlogy, ...) by their elementary definitions: lambdify's "math"
    # and the confirmation in _chord_gap (sp.N) know no others
    from ..primitives.functions import to_elementary
    f = to_elementary(f)
    lam = sp.lambdify(var + others, f, "math")

    def draw(symbols):
        out = []
        for s in symbols:
            base = s.name.split("__")[0]
            dom = spec.input(base).domain if base in [i.name for i in spec.inputs] else None
            lo, hi = (0.0, 1.0) if dom is not None and dom.lo >= 0 and dom.hi <= 1 else (-3.0, 3.0)
            out.append(float(rng.uniform(lo, hi)))
        return out

    for _ in range(WITNESS_TRIES):
        if deadline is not None:
            deadline.check()
        ctx = draw(others)
        a, b = draw(var), draw(var)
        m = [(u + v) / 2 for u, v in zip(a, b)]
        try:
            gap = lam(*m, *ctx) - (lam(*a, *ctx) + lam(*b, *ctx)) / 2
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        if not gap > 1e-6:
            continue
        subs_ctx = dict(zip(others, ctx))
        ok = all(_chord_gap(f, var, subs_ctx, a, b, m, dps) > 0 for dps in (50, 100))
        if ok:
            return {"kind": "chord", "size": size, "a": {str(s): v for s, v in zip(var, a)},
                    "b": {str(s): v for s, v in zip(var, b)}, "midpoint": {str(s): v for s, v in zip(var, m)},
                    "fixed": {str(s): v for s, v in subs_ctx.items()}, "gap": float(gap),
                    "checked": "f(midpoint) - (f(a) + f(b))/2 > 0 at 50 and 100 digits"}
    return None


def _chord_gap(f, var, ctx: dict, a, b, m, dps: int):
    """f(m) - (f(a) + f(b))/2 at ``dps`` digits (points given for the symbols ``var``)."""
    fixed = {k: sp.Float(v, dps) for k, v in ctx.items()}
    with mpmath.workdps(dps):
        def val(pt):
            return sp.N(f.xreplace(fixed | dict(zip(var, (sp.Float(v, dps) for v in pt)))), dps)
        return val(m) - (val(a) + val(b)) / 2


def structured_convexity(problem, deadline):
    """The joint verdict over the differentiable inputs, with per-input verdicts."""
    from .convexity import Verdict
    names = problem.differentiable_names()
    if not names:
        return Verdict("unknown", "not analysed", "no continuous input to be convex in")
    per = {}
    for n in names:
        per[n] = _one(problem, [n], deadline)
    joint = _one(problem, names, deadline, per) if len(names) > 1 else per[names[0]]
    return Verdict(joint.verdict, joint.method, joint.evidence, joint.witness, per if len(names) > 1 else {})


def _one(problem, names, deadline, per=None):
    from .convexity import Verdict
    curv, how = _dcp(problem, names)
    if curv in (CONST, AFFINE, CONVEX):
        extra = ""
        if len(names) == 1 and _convex_in_probabilities(problem, names[0]):
            extra = (f"; at the default parameters also convex in q = exp({names[0]}), the probabilities "
                     "themselves, by the same rules")
        return Verdict("proved", how, f"the loss is {curv} in {', '.join(names)} by DCP: reductions as atoms "
                       "(logsumexp/max convex non-decreasing, sum/mean non-negative combinations, take linear, "
                       f"p-norms of affine arguments convex){extra}")
    if per and any(v.verdict == "disproved" for v in per.values()):
        bad = next(v for v in per.values() if v.verdict == "disproved")
        return Verdict("disproved", bad.method, "not convex in one of the inputs, so not jointly", bad.witness)
    for n in names:
        w = witness(problem, n, deadline)
        if w is not None:
            return Verdict("disproved", "witness: chord below the loss",
                           f"the loss written out for {w['size']} elements, f at a midpoint exceeds the chord "
                           "(confirmed at 50 and 100 digits)", w)
    return Verdict("unknown", "none concluded", f"DCP: {curv}; no witness found in {WITNESS_TRIES} tries")


__all__ = ["StructuredDCP", "structured_convexity", "witness"]
