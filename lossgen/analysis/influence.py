r"""Influence: :math:`\psi = \partial L / \partial \hat y`, its bound, and two constants.

* :math:`\sup |\psi|` over the domain (every input in its domain) as a SymPy expression
  in the parameters — ``oo`` when unbounded — found by :func:`.sup.sup_abs` (limits,
  critical points, piecewise boundaries), else by the labelled numeric fallback
  :func:`.sup.numeric_sup_abs`.  A location loss :math:`g(\hat y - y)` is analysed in the
  residual; a margin loss (labels :math:`\pm 1`, :math:`L` a function of :math:`y\hat y`)
  in the margin, where :math:`|\partial L/\partial \hat y| = |g'(y \hat y)|`.  A
  remaining bounded input in which :math:`\psi` is affine contributes only its ends
  (:math:`|\psi|` is convex in it).
* **Redescending**: bounded and :math:`\psi \to 0` at every infinite end of the variable.
* **Lipschitz constant** of the loss in the prediction: :math:`\sup |\psi|`.
* **Smoothness constant**: :math:`\sup |L''|` (the Lipschitz constant of :math:`\psi`),
  :math:`\infty` when :math:`\psi` jumps (a kink).

Every symbolic answer is compared with the numeric scan at the given/default
parameters; the method says which one the number comes from.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..primitives import to_elementary
from .budget import Timeout, attempt
from .kinks import piecewise_in
from .numeric import contexts, few, hp, mp_value, no_dirac, np_function
from .problem import Problem, set_hull
from .sup import as_piecewise, numeric_sup_abs, sup_abs, tidy

SYMBOLIC = "symbolic (limits, critical points, piecewise boundaries)"
NUMERIC = "numeric scan + golden-section refinement at the given/default parameters (not a proof)"


def _affine_ends(problem: Problem, g: sp.Expr, others):
    """Cases {input: end} when g is affine in each bounded input (else None)."""
    cases = [{}]
    for s in others:
        lo, hi = set_hull(problem.ranges[s])
        if not _affine_in(problem, g, s):
            return None
        if math.isinf(lo) or math.isinf(hi):
            if sp.diff(g, s) != 0:
                return "oo"    # |a + b s| is unbounded in s when b is not identically 0
            continue
        cases = [{**c, s: v} for c in cases for v in (sp.nsimplify(lo), sp.nsimplify(hi))]
    return cases


def _affine_in(problem: Problem, g: sp.Expr, s: sp.Symbol) -> bool:
    """g affine in s: a cheap numeric rejection first, then d2g/ds2 expanded to 0."""
    d2 = sp.diff(g, s, 2)
    if d2 == 0:
        return True
    syms = sorted(d2.free_symbols, key=lambda v: v.name)
    f = np_function(d2, syms)
    rng = None
    pts = []
    for v in syms:
        vals = few(problem.ranges[v], problem.values.get(v))
        pts.append(np.array([vals[k % len(vals)] for k in range(1, 7)]))
    del rng
    vals = f(*pts)
    if np.any(np.isfinite(vals) & (np.abs(vals) > 1e-9)):
        return False
    return attempt(lambda: sp.expand(d2) == 0, 2.0, default=False)


def _unbounded_tail(g: sp.Expr, view) -> bool:
    """Whether g -> +-oo at an infinite end of the variable (other symbols kept symbolic)."""
    e = to_elementary(g)
    if piecewise_in(as_piecewise(e, view.var) or e, view.var) or sp.count_ops(e) > 150:
        return False
    lo, hi = set_hull(view.var_set)
    for end, inf in ((-sp.oo, math.isinf(lo)), (sp.oo, math.isinf(hi))):
        if inf:
            lim = attempt(sp.limit, 3.0, e, view.var, end)
            if lim in (sp.oo, -sp.oo):
                return True
    return False


def _symbolic_sup(problem: Problem, g: sp.Expr, view, num):
    others = [s for s in g.free_symbols - {view.var} if s not in problem.values]
    if others and _unbounded_tail(g, view):
        return sp.oo
    cases = _affine_ends(problem, g, others)
    if cases is None:
        return None
    if cases == "oo":
        return sp.oo
    sups = []
    for c in cases:
        s = sup_abs(g.xreplace(c), view.var, view.var_set, num)
        if s is None:
            return None
        if s == sp.oo:
            return sp.oo
        sups.append(s)
    top = sups[0] if len(sups) == 1 else attempt(lambda: sp.simplify(sp.Max(*sups)), 3.0)
    if top is not None:
        top = attempt(tidy, 3.0, top, problem.box(problem.params)) or top
    return top


def bound(problem: Problem, g: sp.Expr, name: str, deadline, wrt=None) -> dict:
    """sup |g| with its value at the given/default parameters and how it was found."""
    num = {p: sp.nsimplify(v, rational=True) for p, v in problem.values.items()}
    views = problem.views(name, g, enumerate_params=False, wrt_expr=problem.loss if wrt is None else wrt)
    syms, values, label = [], [], views[0].label
    for view in views:
        deadline.check()
        gv = view.apply(g)
        s = _symbolic_sup(problem, gv, view, num)
        syms.append(s)
        val, _ = numeric_sup_abs(problem, gv, view.var, view.var_set, deadline)
        values.append(val)
    numeric = None if any(v is None for v in values) else max(values)
    symbolic = None
    if all(s is not None for s in syms):
        symbolic = sp.oo if any(s == sp.oo for s in syms) else (syms[0] if len(syms) == 1 else sp.Max(*syms))
    out = {"variable": label}
    if symbolic is not None:
        sval = math.inf if symbolic == sp.oo else _float(symbolic.xreplace(num))
        agree = numeric is not None and sval is not None and (
            (math.isinf(sval) and math.isinf(numeric)) or
            (not math.isinf(sval) and not math.isinf(numeric) and abs(sval - numeric) <= 1e-6 * max(1, abs(sval))))
        if agree or (sval is not None and (numeric is None or math.isinf(numeric) or sval >= numeric * (1 - 1e-6))):
            if agree:
                note = "; agrees with a numeric scan"
            elif numeric is None:
                note = "; no numeric check"
            elif math.isinf(numeric):
                note = "; the numeric scan saw growth, the exact candidates bound it"
            else:
                note = f"; the numeric scan reached {numeric:.6g}"
            out.update(expr=symbolic, value=sval, method=SYMBOLIC + note)
            return out
    if numeric is None:
        out.update(expr=None, value=None, method="not found")
        return out
    expr = sp.oo if math.isinf(numeric) else sp.Float(numeric, 12)
    out.update(expr=expr, value=numeric, method=NUMERIC)
    return out


def _float(e):
    try:
        v = complex(sp.N(e, 30))
    except (TypeError, ValueError):
        return None
    return v.real if abs(v.imag) < 1e-20 else None


def _redescending(problem: Problem, g: sp.Expr, name: str, sup_value: float, deadline):
    """(psi -> 0 at every infinite end?, how), or (None, why) when there is no infinite end.

    Numerically first: |psi| at +-1e16 and +-1e32 (every context value tried) must be
    below 1e-8 sup|psi|; then, for expressions of moderate size, the symbolic limits
    must agree (a non-zero limit overrules the numbers).
    """
    num = {p: sp.nsimplify(v, rational=True) for p, v in problem.values.items()}
    for view in problem.views(name, g, enumerate_params=False, wrt_expr=problem.loss):
        gv = view.apply(g).xreplace(num)
        lo, hi = set_hull(view.var_set)
        ends = [sgn for sgn, inf in ((-1, math.isinf(lo)), (1, math.isinf(hi))) if inf]
        if not ends:
            return None, "the variable has no infinite end"
        ctx_syms = sorted(gv.free_symbols - {view.var}, key=lambda v: v.name)
        for ctx in contexts(problem, ctx_syms, 20):
            deadline.check()
            for sgn in ends:
                for big in (16, 32):
                    v = mp_value(gv, {view.var: hp(sgn * 10.0 ** big), **ctx}) if gv.free_symbols else hp(gv)
                    if v is None:
                        return None, "psi could not be evaluated far out"
                    if abs(v) > 1e-8 * max(sup_value, 1e-300):
                        return False, "numeric: |psi| does not vanish at +-1e16, 1e32"
        if sp.count_ops(gv) < 150 and not ctx_syms:
            e = as_piecewise(to_elementary(gv), view.var)
            if e is not None and not piecewise_in(e, view.var):
                for sgn in ends:
                    lim = attempt(sp.limit, 4.0, e, view.var, sgn * sp.oo)
                    if lim is not None and not lim.has(sp.Limit) and lim != 0:
                        return False, "symbolic: the limit is not 0"
    return True, "psi -> 0 at every infinite end (|psi| < 1e-8 sup|psi| at 1e16 and 1e32)"


def influence(problem: Problem, deadline, kinks_in_prediction: bool | None = None) -> dict:
    """The influence keys of the analysis (see module doc)."""
    pred = problem.spec.prediction
    x = problem.input_symbol(pred.name)
    psi = sp.diff(problem.loss, x)
    res = {"influence_bounded": None, "influence_bound": None, "influence_bound_value": None,
           "influence_method": "not found", "influence_variable": pred.name, "redescending": None,
           "influence_kind": None, "lipschitz": None, "lipschitz_value": None,
           "smoothness": None, "smoothness_value": None, "smoothness_method": None}
    try:
        b = bound(problem, no_dirac(psi), pred.name, deadline)
    except Timeout:
        res["influence_method"] = "timeout"
        return res
    if b.get("expr") is not None:
        unbounded = b["expr"] == sp.oo
        res["_bound_expr"] = b["expr"]
        res.update(influence_bounded=not unbounded, influence_bound="oo" if unbounded else sp.sstr(b["expr"]),
                   influence_bound_value=b["value"], influence_method=b["method"], influence_variable=b["variable"])
        res["lipschitz"], res["lipschitz_value"] = res["influence_bound"], res["influence_bound_value"]
        if unbounded:
            res["redescending"], res["influence_kind"] = False, "unbounded"
        else:
            try:
                red, how = _redescending(problem, no_dirac(psi), pred.name, b["value"], deadline)
            except Timeout:
                red, how = None, "timeout"
            res["redescending"], res["redescending_method"] = red, how
            res["influence_kind"] = "redescending" if red else "bounded"
    if kinks_in_prediction:
        res.update(smoothness="oo", smoothness_value=math.inf,
                   smoothness_method="the derivative jumps at a kink: no Lipschitz gradient")
        return res
    try:
        s = bound(problem, no_dirac(sp.diff(psi, x)), pred.name, deadline)
    except Timeout:
        res["smoothness_method"] = "timeout"
        return res
    if s.get("expr") is not None:
        res.update(smoothness="oo" if s["expr"] == sp.oo else sp.sstr(s["expr"]), smoothness_value=s["value"],
                   smoothness_method=s["method"])
    return res
