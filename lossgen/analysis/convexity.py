r"""Convexity in each differentiable input, and jointly: proved, disproved or unknown.

For one input :math:`x` (the others fixed anywhere in their domains, the parameters
anywhere their constraints allow) the methods are tried in this order:

1. **DCP** (:mod:`.dcp`): composition rules over the expression tree.
2. **Second derivative, symbolic** (:mod:`.kinks`): :math:`f'' = s + \sum_k c_k
   \delta(g_k)` with the smooth part :math:`s \ge 0` and every Dirac weight
   :math:`c_k \ge 0` (a kink where :math:`f'` jumps down is concave), shown by
   :mod:`.signs` (assumptions, equivalent forms, interval enclosure).
3. **Piecewise**: each branch convex on its own region (2. on the branch), the loss
   continuous and :math:`f'` non-decreasing across every breakpoint
   (:math:`f_l'(b) \le f_r'(b)`).  ``Piecewise.diff`` is never trusted across a
   breakpoint.
4. **Witness search** (:mod:`.witness`): negative second derivative, concave kink,
   chord failure — each confirmed with mpmath at 50 and 100 digits.
5. **Interval branch-and-bound** (:mod:`.intervals`) on the smooth part of
   :math:`f''` over the box of the variable, the other inputs and the parameters.

Jointly (several differentiable inputs): DCP in all of them; a failed single-input
verdict disproves (a negative diagonal Hessian entry bounds the smallest eigenvalue
from above); else every principal minor of the Hessian :math:`\ge 0`; else a
negative-eigenvalue witness.  Sampling alone never proves convexity: without a proof
or a confirmed witness the verdict is "unknown".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import sympy as sp

from . import witness as W
from .budget import Timeout, attempt
from .dcp import AFFINE, CONST, CONVEX, dcp_curvature
from .bnb import prove_nonnegative
from .kinks import (
    breakpoints,
    components,
    dirac_split,
    one_sided,
    piecewise_in,
    region_hull,
    regions,
)
from .problem import Problem, View, set_hull
from .signs import is_nonneg, sign_of


@dataclass
class Verdict:
    verdict: str                 # proved | disproved | unknown
    method: str
    evidence: str
    witness: dict | None = None
    inputs: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {"verdict": self.verdict, "method": self.method, "evidence": self.evidence, "witness": self.witness}
        if self.inputs:
            d["inputs"] = {k: v.as_dict() for k, v in self.inputs.items()}
        return d


def _ranges(problem: Problem, view: View | None = None, var_range=None) -> dict:
    r = problem.box(problem.inputs + problem.params)
    if view is not None:
        for s, v in view.subs.items():
            r[s] = (float(v), float(v))
        if var_range is not None:
            r[view.var] = var_range
    return r


def _second_derivative_case(problem, view, e, rng, slow):
    """(proved?, why-not) for a view without Piecewise in the variable."""
    f2 = sp.diff(e, view.var, 2)
    split = dirac_split(f2)
    if split is None:
        return False, "the second derivative has Dirac terms it cannot weigh"
    smooth, terms = split
    if not is_nonneg(smooth, rng, slow=slow):
        return False, f"f'' = {sp.sstr(smooth)} not shown >= 0"
    for coeff, arg in terms:
        if not _dirac_ok(coeff, arg, view.var, None, rng):
            return False, f"kink at {sp.sstr(arg)} = 0 with weight {sp.sstr(coeff)} not shown >= 0"
    return True, ""


def _dirac_ok(coeff, arg, x, region, rng) -> bool:
    if is_nonneg(coeff, rng):
        return True
    sols = attempt(sp.solve, 3.0, arg, x)
    if sols is None:
        return False
    for s in sols:
        inside = region.contains(s) if region is not None else sp.true
        if inside is sp.false:
            continue
        if not is_nonneg(coeff.xreplace({x: s}), rng):
            return False
    return True


def _nonneg_on(expr, x, comps, rng, slow) -> bool:
    """expr >= 0 on each interval of a region with symbolic ends, written from its ends:
    x = a + t (t >= 0), x = b - t, or x = a + (b - a) t (0 <= t <= 1), so the relation
    between x and the ends (e.g. x >= target) is not lost to a numeric hull."""
    if comps is None:
        return False
    t = sp.Dummy("t", nonnegative=True)
    for c in comps:
        if isinstance(c, sp.FiniteSet):
            continue
        a, b = c.inf, c.sup
        if a.is_infinite and b.is_infinite:
            sub, tr = x, None
        elif b.is_infinite:
            sub, tr = a + t, (0.0, float("inf"))
        elif a.is_infinite:
            sub, tr = b - t, (0.0, float("inf"))
        else:
            sub, tr = a + (b - a) * t, (0.0, 1.0)
        r = dict(rng)
        if tr is not None:
            r[t] = tr
        if not is_nonneg(expr.xreplace({x: sub}), r, slow=slow):
            return False
    return True


def _piecewise_case(problem, view, e, rng, slow):
    x = view.var
    regs = regions(e, x, view.var_set)
    if regs is None:
        return False, "its Piecewise conditions could not be solved for the variable", []
    bps = breakpoints(regs, view.var_set)
    if bps is None:
        return False, "the Piecewise regions could not be ordered", []
    bad_points = []
    for branch, region in regs:
        comps = components(region)
        if comps is not None and all(isinstance(c, sp.FiniteSet) for c in comps):
            continue
        hull = region_hull(region, rng)
        r = dict(rng)
        r[x] = hull if hull is not None else set_hull(view.var_set)
        split = dirac_split(sp.diff(branch, x, 2))
        if split is None:
            return False, "a branch's second derivative has unweighable Dirac terms", []
        smooth, terms = split
        if not (is_nonneg(smooth, r, slow=slow) or _nonneg_on(smooth, x, comps, rng, slow)):
            return False, f"branch {sp.sstr(branch)}: f'' = {sp.sstr(smooth)} not shown >= 0 on {region}", []
        for coeff, arg in terms:
            if not _dirac_ok(coeff, arg, x, region, r):
                return False, f"branch {sp.sstr(branch)}: kink weight {sp.sstr(coeff)} not shown >= 0", []
    for b, left, right, at in bps:
        r = {s: v for s, v in rng.items() if s != x}
        jump0 = attempt(sp.simplify, 3.0, one_sided(right, x, b, "right") - one_sided(left, x, b, "left"))
        if jump0 is None or sign_of(jump0, r) != "zero":
            bad_points.append(b)
            return False, f"the loss may jump at {view.label} = {sp.sstr(b)}", bad_points
        if at is not None and sign_of(sp.simplify(at.xreplace({x: b}) - left.xreplace({x: b})), r) != "zero":
            bad_points.append(b)
            return False, f"the loss's value at {view.label} = {sp.sstr(b)} differs from its limits", bad_points
        jump1 = one_sided(right, x, b, "right", 1) - one_sided(left, x, b, "left", 1)
        if jump1 is None or not is_nonneg(jump1, r, slow=slow):
            bad_points.append(b)
            return False, f"f' jump {sp.sstr(jump1)} at {view.label} = {sp.sstr(b)} not shown >= 0", bad_points
    return True, f"{len(regs)} branches, {len(bps)} breakpoints", []


def _symbolic(problem, name, views, deadline):
    """Methods 2-3 on every view; (method, evidence) when proved, else (None, reasons, bad points)."""
    reasons, used, bad = [], set(), {}
    for slow in (False, True):
        reasons, used, ok_all = [], set(), True
        for view in views:
            deadline.check()
            e = view.apply(problem.loss)
            rng = _ranges(problem, view)
            if piecewise_in(e, view.var):
                ok, why, pts = _piecewise_case(problem, view, e, rng, slow)
                used.add("piecewise")
                bad[id(view)] = pts
            else:
                ok, why = _second_derivative_case(problem, view, e, rng, slow)
                used.add("second derivative")
            if not ok:
                ok_all = False
                reasons.append((view.case + ": " if view.case else "") + why)
        if ok_all:
            return ("piecewise" if "piecewise" in used else "second derivative"), used, None, bad
    return None, used, reasons, bad


def _search(problem, views, bad, deadline):
    for view in views:
        e = view.apply(problem.loss)
        f2 = sp.diff(e, view.var, 2)
        w = W.second_derivative(problem, view, f2, deadline)
        if w is None:
            split = dirac_split(f2)
            if split is not None and split[1]:
                rng = _ranges(problem, view)
                w = W.concave_kink(problem, view, e, split[1], lambda c, r=rng: is_nonneg(c, r), deadline)
        if w is None and bad.get(id(view)):
            w = W.at_points(problem, view, e, bad[id(view)], deadline)
        if w is None:
            w = W.chord_scan(problem, view, e, deadline)
        if w is not None:
            return w
        deadline.check()
    return None


def _bnb(problem, views, deadline):
    total = 0
    for view in views:
        e = view.apply(problem.loss)
        if piecewise_in(e, view.var):
            return None
        split = dirac_split(sp.diff(e, view.var, 2))
        if split is None:
            return None
        smooth, terms = split
        rng = _ranges(problem, view)
        if any(not _dirac_ok(c, a, view.var, None, rng) for c, a in terms):
            return None
        box = {s: rng[s] for s in smooth.free_symbols}
        status, info = prove_nonnegative(smooth, box, max_boxes=300, deadline=deadline)
        total += info.get("boxes", 0)
        if status != "proved":
            return None
    return total


_WITNESS_TEXT = {
    "negative second derivative": "the exact second derivative is negative at the witness point "
                                  "(mpmath, 50 and 100 digits agree)",
    "negative Hessian eigenvalue": "the Hessian's smallest eigenvalue is negative at the witness point "
                                   "(mpmath.eigsy, 50 and 100 digits)",
    "concave kink": "the first derivative jumps down at the witness point: the loss lies above its chord "
                    "there (mpmath, 50 and 100 digits)",
    "chord": "the loss lies above the chord between two points around the witness (mpmath, 50 and 100 digits)",
}


def convexity_in(problem: Problem, name: str, deadline) -> Verdict:
    """Convexity of the loss in input ``name``."""
    x = problem.input_symbol(name)
    curv = dcp_curvature(problem.loss, [x], _ranges(problem))
    if curv in (CONVEX, AFFINE, CONST):
        return Verdict("proved", "dcp", f"{curv} by the DCP composition rules in {name}")
    deadline.check()
    views = problem.views(name)
    method, _, reasons, bad = _symbolic(problem, name, views, deadline)
    if method == "piecewise":
        return Verdict("proved", "piecewise",
                       "each branch has f'' >= 0 on its region (Dirac weights >= 0) and f' does not decrease "
                       "across any breakpoint")
    if method:
        return Verdict("proved", "second derivative",
                       "f'' = smooth part + Dirac terms, the smooth part >= 0 and every Dirac weight >= 0 "
                       "(shown symbolically / by interval enclosure)")
    w = _search(problem, views, bad, deadline)
    if w is not None:
        return Verdict("disproved", f"witness: {w.kind}", _WITNESS_TEXT[w.kind], w.as_dict())
    deadline.check()
    boxes = _bnb(problem, views, deadline)
    if boxes is not None:
        return Verdict("proved", "interval branch-and-bound",
                       f"f'' >= 0 on every box ({boxes} boxes; a tail [R, oo) as x = 1/u, u in [0, 1/R], with "
                       "numerator and denominator enclosed apart)")
    return Verdict("unknown", "none concluded",
                   "not DCP; " + "; ".join(reasons[:3]) + "; no witness found; branch-and-bound did not settle")


def joint_convexity(problem: Problem, names: list[str], per_input: dict, deadline) -> Verdict:
    xs = [problem.input_symbol(n) for n in names]
    curv = dcp_curvature(problem.loss, xs, _ranges(problem))
    if curv in (CONVEX, AFFINE, CONST):
        return Verdict("proved", "dcp", f"{curv} by the DCP composition rules in ({', '.join(names)})")
    for n in names:
        v = per_input[n]
        if v.verdict == "disproved":
            return Verdict("disproved", v.method, f"not convex in {n} alone: the Hessian's diagonal entry or a "
                           "kink along that axis is negative, so the Hessian is not PSD", v.witness)
    H = [[sp.diff(problem.loss, a, b) for b in xs] for a in xs]
    rng = _ranges(problem)
    if not any(h.has(sp.DiracDelta, sp.Piecewise) for row in H for h in row):
        minors_ok = True
        for k in range(1, len(xs) + 1):
            for idx in combinations(range(len(xs)), k):
                deadline.check()
                sub = sp.Matrix([[H[i][j] for j in idx] for i in idx])
                m = sub.det(method="berkowitz") if k > 1 else sub[0, 0]
                if not is_nonneg(m, rng, slow=True):
                    minors_ok = False
                    break
            if not minors_ok:
                break
        if minors_ok:
            return Verdict("proved", "hessian principal minors", "every principal minor of the Hessian is >= 0")
    w = W.hessian_eigen(problem, xs, H, {}, deadline)
    if w is not None:
        return Verdict("disproved", "witness: negative Hessian eigenvalue", _WITNESS_TEXT[w.kind], w.as_dict())
    if all(per_input[n].verdict == "proved" for n in names):
        why = "convex in each input separately; the joint Hessian was not shown PSD"
    else:
        why = "not proved in every input; no negative eigenvalue found"
    return Verdict("unknown", "none concluded", why)


def convexity(problem: Problem, deadline) -> Verdict:
    """The joint verdict, with the per-input verdicts in ``inputs``."""
    names = problem.differentiable_names()
    if not problem.spec.is_elementwise:
        from .structured import structured_convexity
        return structured_convexity(problem, deadline)
    if not names:
        return Verdict("unknown", "not analysed", "no continuous input to be convex in")
    per = {}
    for n in names:
        try:
            per[n] = convexity_in(problem, n, deadline)
        except Timeout:
            per[n] = Verdict("unknown", "timeout", "the time budget ran out")
    if len(names) == 1:
        v = per[names[0]]
        return Verdict(v.verdict, v.method, v.evidence, v.witness, per)
    try:
        joint = joint_convexity(problem, names, per, deadline)
    except Timeout:
        joint = Verdict("unknown", "timeout", "the time budget ran out")
    joint.inputs = per
    return joint


__all__ = ["Verdict", "convexity", "convexity_in", "joint_convexity"]
