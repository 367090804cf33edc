r"""Interval branch-and-bound: is an expression >= 0 on a box?

:func:`prove_nonnegative` is branch-and-bound: a box whose enclosure has lower end
:math:`\ge 0` is done; a box whose upper end is :math:`< 0` holds a counterexample (its
midpoint, to be confirmed in high precision); other boxes are split along their widest
side (an infinite side :math:`[a, \infty]` is split at :math:`\max(2a, a + 1)`, so the
tails are pushed outward).  A tail box :math:`[R, \infty)` that direct enclosure cannot
settle is enclosed through :math:`x = 1/u`, :math:`u \in [0, 1/R]`, with numerator and
denominator of ``together(expr(1/u))`` enclosed apart: the value at :math:`u = 0` is the
limit at infinity, and :math:`\infty - \infty` does not arise for rational parts.
The answer is "proved", "negative" (with a point) or "unknown".
"""
from __future__ import annotations

import collections
import math

import sympy as sp

from .intervals import lower_upper


def _split_point(lo: float, hi: float) -> float:
    if math.isinf(lo) and math.isinf(hi):
        return 0.0
    if math.isinf(hi):
        return max(2 * lo, lo + 1) if lo >= 0 else 0.0
    if math.isinf(lo):
        return min(2 * hi, hi - 1) if hi <= 0 else 0.0
    return (lo + hi) / 2


def _width(lo, hi):
    return math.inf if (math.isinf(lo) or math.isinf(hi)) else hi - lo


def _midpoint(ranges):
    pt = {}
    for s, (lo, hi) in ranges.items():
        if math.isinf(lo) and math.isinf(hi):
            pt[s] = 0.0
        elif math.isinf(hi):
            pt[s] = lo + 1.0 + abs(lo)
        elif math.isinf(lo):
            pt[s] = hi - 1.0 - abs(hi)
        else:
            pt[s] = (lo + hi) / 2
    return pt


class _Tails:
    """Enclosures on a tail box [R, oo) (R >= 1) of one variable v, as limits.

    With v = 1/u (or -1/u on (-oo, -R]) the tail is u in [0, 1/R] and
    expr(1/u) = n(u)/d(u) (``together``); n and d are enclosed separately, so that
    oo - oo never arises for rational parts (x**2 - x + 1 becomes (1 - u + u**2)/u**2).
    """

    def __init__(self, expr):
        self.expr = expr
        self.forms = {}

    def _form(self, v, sign):
        key = (v, sign)
        if key not in self.forms:
            u = sp.Dummy("u", nonnegative=True)
            try:
                g = sp.together(self.expr.xreplace({v: sign / u}))
                n, d = sp.fraction(g)
                self.forms[key] = (u, n, d)
            except (TypeError, ValueError, NotImplementedError):
                self.forms[key] = None
        return self.forms[key]

    def nonneg(self, r: dict) -> bool:
        inf = [v for v, (lo, hi) in r.items() if math.isinf(lo) or math.isinf(hi)]
        if len(inf) != 1:
            return False
        v = inf[0]
        lo, hi = r[v]
        if math.isinf(hi) and lo >= 1:
            sign, umax = 1, 1 / lo
        elif math.isinf(lo) and hi <= -1:
            sign, umax = -1, -1 / hi
        else:
            return False
        form = self._form(v, sign)
        if form is None:
            return False
        u, n, d = form
        box = {s: b for s, b in r.items() if s != v}
        box[u] = (0.0, umax * (1 + 1e-15))
        en = lower_upper(n, {s: box[s] for s in n.free_symbols}) if n.free_symbols else (float(n), float(n))
        ed = lower_upper(d, {s: box[s] for s in d.free_symbols}) if d.free_symbols else (float(d), float(d))
        if en is None or ed is None:
            return False
        return (en[0] >= 0 and ed[0] >= 0) or (en[1] <= 0 and ed[1] <= 0)


def prove_nonnegative(expr: sp.Expr, ranges: dict, *, max_boxes: int = 400, deadline=None,
                      fixed_dims: tuple = ()) -> tuple[str, dict]:
    """Branch-and-bound: is ``expr >= 0`` on the box ``ranges`` (symbol -> (lo, hi))?

    Returns ("proved", {"boxes": n}), ("negative", {"point": {...}}) or ("unknown", {...}).
    ``fixed_dims`` are never split (e.g. parameters enumerated elsewhere).
    """
    queue = collections.deque([dict(ranges)])     # breadth first: no deep dive at one point
    tails = _Tails(expr)
    boxes, unsettled = 0, 0
    while queue:
        if deadline is not None and deadline.expired():
            return "unknown", {"boxes": boxes, "why": "deadline"}
        if boxes >= max_boxes:
            return "unknown", {"boxes": boxes, "why": f"{max_boxes} boxes did not settle it"}
        r = queue.popleft()
        boxes += 1
        got = lower_upper(expr, r)
        if got is not None:
            lo, hi = got
            if lo >= 0:
                continue
            if hi < 0:
                return "negative", {"point": _midpoint(r), "boxes": boxes}
        if tails.nonneg(r):
            continue
        splittable = [s for s in r if s not in fixed_dims and
                      (math.isinf(_width(*r[s])) or _width(*r[s]) > 1e-9 * (1 + max(map(abs, r[s]))))]
        if not splittable:
            unsettled += 1      # too small to split and still undecided
            continue
        s = max(splittable, key=lambda v: _width(*r[v]))
        lo, hi = r[s]
        m = _split_point(lo, hi)
        left, right = dict(r), dict(r)
        left[s], right[s] = (lo, m), (m, hi)
        queue += [left, right]
    if unsettled:
        return "unknown", {"boxes": boxes, "why": f"{unsettled} boxes too small to split did not settle"}
    return "proved", {"boxes": boxes}
