r"""Kinks: where a loss or its derivative jumps, read from the exact derivatives.

Two sources, both exact:

* **Dirac terms.**  ``Abs``, ``Max``, ``Min``, ``Heaviside`` differentiate to
  ``sign``/``Heaviside`` and, once more, to ``DiracDelta``.  A second derivative splits as

  .. math:: f''(x) = s(x) + \sum_k c_k(x)\, \delta(g_k(x))

  (:func:`dirac_split`).  At a simple root :math:`x_0` of :math:`g_k` the first
  derivative jumps by :math:`J = c_k(x_0) / |g_k'(x_0)|` (right minus left), so its
  sign is the sign of :math:`c_k(x_0)`.

* **Piecewise breakpoints.**  ``Piecewise.diff`` differentiates each branch and
  silently drops what happens at a breakpoint, so a Piecewise derivative is never
  trusted across one.  :func:`regions` turns the conditions into sets of :math:`x`
  (branch :math:`i` holds where its condition holds and no earlier one does);
  :func:`breakpoints` pairs each finite region boundary :math:`b` with the branch on its
  left and on its right, so the value jump :math:`f_r(b) - f_l(b)` and the derivative
  jump :math:`f_r'(b) - f_l'(b)` are computed from the branches themselves.
"""
from __future__ import annotations

import sympy as sp

from .budget import attempt


def dirac_split(f2: sp.Expr):
    """(smooth part, [(coefficient, argument), ...]) of an expression linear in Diracs.

    Returns None when a Dirac term has a derivative order or enters non-linearly.
    """
    deltas = sorted(f2.atoms(sp.DiracDelta), key=sp.default_sort_key)
    if not deltas:
        return f2, []
    if any(len(d.args) > 1 and d.args[1] != 0 for d in deltas):
        return None
    dummies = [sp.Dummy(f"d{k}") for k in range(len(deltas))]
    g = f2.xreplace(dict(zip(deltas, dummies)))
    zero = {d: 0 for d in dummies}
    terms = []
    for d, dd in zip(deltas, dummies):
        c = sp.diff(g, dd)
        if c.free_symbols & set(dummies):
            return None
        terms.append((c.xreplace(zero), d.args[0]))
    return g.xreplace(zero), terms


_SOLVED: dict = {}


def _relational_set(rel, x, domain: sp.Set):
    """The set where one relation holds (found sets are remembered; failures are not)."""
    key = (rel, x, domain)
    if key not in _SOLVED:
        got = _solve_relational(rel, x, domain)
        if got is None:
            return None
        if len(_SOLVED) > 2048:
            _SOLVED.clear()
        _SOLVED[key] = got
    return _SOLVED[key]


def _solve_relational(rel, x, domain: sp.Set):
    if x not in rel.free_symbols:
        return None
    if isinstance(rel, (sp.Eq, sp.Ne)):
        sols = attempt(sp.solveset, 2.0, rel.lhs - rel.rhs, x, domain)
        if not isinstance(sols, sp.FiniteSet):
            return None
        if isinstance(rel, sp.Eq):
            return sols
        return _pieces_set(_intersect(_pieces(domain), _complement_points(sols)))
    got = attempt(sp.solve_univariate_inequality, 3.0, rel, x, relational=False, domain=domain)
    return got if isinstance(got, sp.Set) else None


def _complement_points(points: sp.FiniteSet):
    pts = sorted(points.args, key=lambda v: float(v))
    ends = [-sp.oo] + pts + [sp.oo]
    return [sp.Interval(a, b, True, True) for a, b in zip(ends[:-1], ends[1:])]


def _pieces(s: sp.Set):
    """A set as a list of Intervals and one-point FiniteSets, or None."""
    c = components(s)
    return c


def _pieces_set(pieces) -> sp.Set:
    return sp.Union(*pieces) if pieces else sp.EmptySet


def _pick(a, b, f):
    """max (f=sp.Max) or min of two endpoints when SymPy can order them, else None."""
    m = f(a, b)
    return m if (m == a or m == b) else None


def _meet(i: sp.Set, j: sp.Set):
    if isinstance(i, sp.FiniteSet) or isinstance(j, sp.FiniteSet):
        pt, other = (i, j) if isinstance(i, sp.FiniteSet) else (j, i)
        inside = other.contains(pt.args[0])
        return pt if inside is sp.true else (sp.EmptySet if inside is sp.false else None)
    lo, hi = _pick(i.inf, j.inf, sp.Max), _pick(i.sup, j.sup, sp.Min)
    if lo is None or hi is None:
        return None
    lopen = (i.left_open if lo == i.inf else False) or (j.left_open if lo == j.inf else False)
    ropen = (i.right_open if hi == i.sup else False) or (j.right_open if hi == j.sup else False)
    if (hi - lo).is_negative:
        return sp.EmptySet
    return sp.Interval(lo, hi, lopen, ropen)


MAX_PIECES = 64
MAX_BRANCHES = 12


def _intersect(a, b):
    """Pairwise intersection of two lists of pieces (None when it grows past MAX_PIECES)."""
    if a is None or b is None or len(a) * len(b) > 4 * MAX_PIECES:
        return None
    out = []
    for i in a:
        for j in b:
            m = _meet(i, j)
            if m is None:
                return None
            if m is not sp.EmptySet and not (isinstance(m, sp.Interval) and m.measure == 0 and
                                               (m.left_open or m.right_open)) and m not in out:
                out.append(m)
    return out if len(out) <= MAX_PIECES else None


def condition_set(cond, x: sp.Symbol, domain: sp.Set):
    """The set of x in ``domain`` where ``cond`` holds (a union of intervals), or None."""
    cond = sp.to_nnf(cond) if isinstance(cond, sp.logic.boolalg.Boolean) else cond
    pieces = _condition_pieces(cond, x, domain)
    return None if pieces is None else _pieces_set(pieces)


def _condition_pieces(cond, x, domain):
    if cond is sp.true:
        return _pieces(domain)
    if cond is sp.false:
        return []
    if isinstance(cond, sp.core.relational.Relational):
        s = _relational_set(cond, x, domain)
        return None if s is None else _pieces(s)
    parts = [_condition_pieces(c, x, domain) for c in cond.args]
    if any(p is None for p in parts):
        return None
    if isinstance(cond, sp.And):
        out = parts[0]
        for p in parts[1:]:
            out = _intersect(out, p)
        return out
    if isinstance(cond, sp.Or):
        out = []
        for q in (q for p in parts for q in p):   # overlaps are harmless for the uses here
            if q not in out:
                out.append(q)
        return out if len(out) <= MAX_PIECES else None
    return None


def piecewise_in(expr: sp.Expr, x: sp.Symbol) -> bool:
    """Whether ``expr`` has a Piecewise whose conditions involve ``x``."""
    return any(any(x in c.free_symbols for _, c in p.args) for p in expr.atoms(sp.Piecewise))


def regions(expr: sp.Expr, x: sp.Symbol, domain: sp.Set):
    """[(branch, set of x where it applies), ...] for a Piecewise in ``x``, or None.

    Branch i applies where its condition holds and no earlier one does.
    """
    pw = attempt(sp.piecewise_fold, 3.0, expr)
    if not isinstance(pw, sp.Piecewise) or len(pw.args) > MAX_BRANCHES:
        return None
    out, earlier = [], []
    for branch, cond in pw.args:
        if piecewise_in(branch, x):
            return None
        region = attempt(condition_set, 5.0, sp.And(cond, *[sp.Not(c) for c in earlier]), x, domain)
        if region is None:
            return None
        earlier.append(cond)
        if region is not sp.EmptySet:
            out.append((branch, region))
    return out


def components(s: sp.Set):
    """Intervals and points of a (union of) set(s), or None when it is not that simple."""
    if isinstance(s, sp.Union):
        out = []
        for a in s.args:
            c = components(a)
            if c is None:
                return None
            out += c
        return out
    if isinstance(s, sp.Interval):
        return [s]
    if isinstance(s, sp.FiniteSet):
        return [sp.FiniteSet(v) for v in s.args]
    if s is sp.EmptySet:
        return []
    return None


def _same(a: sp.Expr, b: sp.Expr) -> bool:
    return a == b or sp.expand(a - b) == 0


def breakpoints(regs, domain: sp.Set):
    """[(b, left branch, right branch), ...] at each interior region boundary, or None.

    A boundary where the left or right neighbour cannot be identified gives None (the
    caller then does not claim anything from the Piecewise structure).
    """
    pieces = []
    points = []
    for k, (branch, region) in enumerate(regs):
        comps = components(region)
        if comps is None:
            return None
        for c in comps:
            if isinstance(c, sp.FiniteSet):
                points.append((c.args[0], branch))
            else:
                pieces.append((c, branch))
    out = []
    seen = []
    for c, branch in pieces:
        for b in (c.inf, c.sup):
            if b.is_infinite or any(_same(b, s) for s in seen):
                continue
            if b in (domain.inf, domain.sup):
                continue
            left = [br for cc, br in pieces if _same(cc.sup, b)]
            right = [br for cc, br in pieces if _same(cc.inf, b)]
            if len(left) != 1 or len(right) != 1:
                return None
            seen.append(b)
            at = [br for p, br in points if _same(p, b)]
            out.append((b, left[0], right[0], at[0] if at else None))
    return out


def one_sided(branch: sp.Expr, x: sp.Symbol, b: sp.Expr, side: str, order: int = 0):
    """The ``order``-th derivative of a branch at ``b`` from one side (limit if needed)."""
    d = sp.diff(branch, x, order) if order else branch
    v = d.xreplace({x: b})
    if v.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or v.has(sp.DiracDelta) or _switch_at(d, x, b):
        v = attempt(sp.limit, 3.0, d, x, b, "+" if side == "right" else "-")
    return v


def _switch_at(d: sp.Expr, x: sp.Symbol, b: sp.Expr) -> bool:
    """Whether a sign/Heaviside/Abs/Max/Min in ``d`` switches exactly at x = b."""
    for a in d.atoms(sp.sign, sp.Heaviside, sp.Abs):
        if x in a.free_symbols and sp.expand(a.args[0].xreplace({x: b})) == 0:
            return True
    for a in d.atoms(sp.Max, sp.Min):
        vals = [sp.expand(v.xreplace({x: b})) for v in a.args]
        if x in a.free_symbols and len(set(vals)) < len(vals):
            return True
    return False


def region_hull(region: sp.Set, ranges: dict) -> tuple[float, float] | None:
    """Numeric (lo, hi) containing ``region`` for every context value in ``ranges``."""
    from .intervals import lower_upper
    comps = components(region)
    if not comps:
        return None
    los, his = [], []
    for c in comps:
        for end, pick, out in ((c.inf, 0, los), (c.sup, 1, his)):
            if end.is_infinite:
                out.append(float(end))
                continue
            got = lower_upper(end, {s: ranges[s] for s in end.free_symbols}) if end.free_symbols else \
                (float(end), float(end))
            if got is None:
                out.append(float("-inf") if pick == 0 else float("inf"))
            else:
                out.append(float(got[pick]))
    return min(los), max(his)


def solve_for(g: sp.Expr, x: sp.Symbol, num: dict | None = None):
    """Symbolic roots of g = 0 in x (Max/Min/Abs via Piecewise), or None when not found.

    A Piecewise root (valid under a condition on the parameters) keeps the branch whose
    condition holds at the numbers ``num``.
    """
    sols = attempt(sp.solve, 3.0, g, x)
    if not sols and g.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign):
        sols = attempt(sp.solve, 3.0, g.rewrite(sp.Piecewise), x)
    if sols is None:
        return None
    out = []
    for s in sols:
        if isinstance(s, sp.Piecewise):
            pick = None
            for branch, cond in s.args:
                holds = cond.xreplace(num or {}) if cond not in (sp.true, sp.false) else cond
                if holds is sp.true:
                    pick = branch
                    break
            if pick is None or pick.has(sp.nan):
                continue
            s = pick
        out.append(s)
    return out
