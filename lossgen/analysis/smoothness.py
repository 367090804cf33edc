r"""Smoothness: the kinks, the points where a higher derivative jumps, the continuity class.

Candidates are the zeros, in each differentiable input :math:`x`, of every expression
where the loss can switch: arguments of ``Abs``/``sign``/``Heaviside``, pairwise
differences of ``Max``/``Min`` arguments, ``Piecewise`` conditions
(:func:`lossgen.verify.points.kink_expressions`) and bases of fractional powers.  Each
zero :math:`x_0` is solved for symbolically (so it reads ``pred - target = delta``) and
inspected at the given/default parameters: the jump of the :math:`n`-th derivative,

.. math:: J_n = f^{(n)}(x_0 + h) - f^{(n)}(x_0 - h), \qquad h = 10^{-30}\max(|x_0|, 1),

is computed with mpmath at 50 digits from the exact derivatives (each side is smooth, so
:math:`J_n` is the one-sided jump to about :math:`10^{-30}`).  The first :math:`n` with
:math:`J_n \ne 0` decides: :math:`n = 0` the loss itself jumps (discontinuous), :math:`n = 1`
a kink (not differentiable), :math:`n \ge 2` the loss is :math:`C^{n-1}` there.  With
no switch point at all the loss is built from functions analytic on the interior of
its domain: :math:`C^\infty`.  The jump of :math:`f'` at a kink is also given
symbolically when one-sided limits find it.
"""
from __future__ import annotations

import mpmath
import sympy as sp

from ..verify.points import kink_expressions
from .budget import attempt
from .kinks import breakpoints, dirac_split, one_sided, piecewise_in, regions, solve_for
from .numeric import few, hp, mp_value, no_dirac, numeric_roots
from .problem import Problem

MAX_ORDER = 4


def candidates(e: sp.Expr, x: sp.Symbol) -> list[sp.Expr]:
    found = [g for g in kink_expressions(e) if x in g.free_symbols]
    for p in e.atoms(sp.Pow):
        if x in p.base.free_symbols and p.exp.is_number and not p.exp.is_integer:
            found.append(p.base)
    return found


def _jump_orders(e, x, x0, ctx):
    """[(n, J_n), ...] up to the first non-zero jump (numbers at 50 digits).

    A derivative that blows up at x0 (|f^(n)| at 1e-30 away exceeds 1e8 times its value
    at 1e-10 away, e.g. |x|^1.5 at 0 for n = 2) counts as a jump of order n.
    """
    with mpmath.workdps(60):
        scale = abs(x0) if x0 != 0 else mpmath.mpf(1)
        h, h2 = mpmath.mpf(10) ** -30 * scale, mpmath.mpf(10) ** -10 * scale
        hi, lo, hi2, lo2 = x0 + h, x0 - h, x0 + h2, x0 - h2
    out = []
    d = e
    for n in range(MAX_ORDER + 1):
        dn = no_dirac(d)
        if dn.free_symbols:
            a, b = mp_value(dn, {x: hi, **ctx}), mp_value(dn, {x: lo, **ctx})
            a2, b2 = mp_value(dn, {x: hi2, **ctx}), mp_value(dn, {x: lo2, **ctx})
        else:
            a = b = a2 = b2 = hp(dn)
        if a is None or b is None:
            return out, None
        with mpmath.workdps(50):
            jump = a - b
            near = max([1] + [abs(v) for v in (a2, b2) if v is not None])
            if max(abs(a), abs(b)) > mpmath.mpf(10) ** 8 * near:
                out.append((n, mpmath.inf if abs(a) + abs(b) > 0 else jump))
                return out, n
        out.append((n, jump))
        if abs(jump) > mpmath.mpf(10) ** -12 * max(1, abs(a), abs(b)):
            return out, n
        d = sp.diff(d, x)
    return out, None


def _symbolic_jump(e, x, root, order, view, num, numeric):
    """The jump of the ``order``-th derivative (0 or 1) at ``root``, exact, or None.

    From the branches on each side of a Piecewise breakpoint, or from the Dirac weight
    c(x0)/|g'(x0)| of the next derivative; kept only when it matches the number.
    """
    cand = None
    if piecewise_in(e, x):
        regs = regions(e, x, view.var_set)
        bps = breakpoints(regs, view.var_set) if regs else None
        for b, left, right, _ in bps or []:
            if sp.expand(b - root) == 0:
                r, le = one_sided(right, x, b, "right", order), one_sided(left, x, b, "left", order)
                cand = None if r is None or le is None else r - le
    else:
        split = dirac_split(sp.diff(e, x, order + 1))
        if split is not None:
            total = sp.S.Zero
            for c, g in split[1]:
                if sp.expand(g.xreplace({x: root})) == 0:
                    total += c.xreplace({x: root}) / sp.Abs(sp.diff(g, x).xreplace({x: root}))
            cand = total if total != 0 else None
    if cand is None:
        return None
    cand = attempt(sp.simplify, 2.0, cand)
    if cand is None or x in cand.free_symbols:
        return None
    value = mp_value(cand, {s: hp(v) for s, v in num.items()}) if cand.free_symbols else hp(cand)
    if value is None or abs(value - numeric) > mpmath.mpf(10) ** -8 * max(1, abs(numeric)):
        return None
    return cand


def _numeric_ctx(problem: Problem, view, e) -> dict:
    ctx = {}
    for s in sorted(e.free_symbols - {view.var}, key=lambda v: v.name):
        if s in problem.values:
            ctx[s] = hp(problem.values[s])
        else:
            ctx[s] = hp(few(problem.ranges[s])[0])
    return ctx


def _interior(view, x0) -> bool:
    v = sp.Float(mpmath.nstr(x0, 40), 40)
    s = view.var_set
    return s.contains(v) is sp.true and v != s.inf and v != s.sup


def smoothness(problem: Problem, deadline) -> dict:
    """``differentiable``, ``kinks``, ``breakpoints`` and ``continuity`` (see module doc)."""
    kinks, breaks, worst = [], [], None
    notes = []
    for name in problem.differentiable_names():
        for view in problem.views(name, enumerate_params=False):
            deadline.check()
            e = view.apply(problem.loss)
            ctx = _numeric_ctx(problem, view, e)
            num = {s: sp.Float(mpmath.nstr(v, 40), 40) for s, v in ctx.items()}
            seen = []
            for g in candidates(e, view.var):
                deadline.check()
                sols = solve_for(g, view.var, num)
                pairs = []
                if sols is None:
                    pairs = [(None, hp(r)) for r in numeric_roots(g.xreplace(num), view.var, view.var_set)]
                else:
                    for s in sols:
                        v = sp.N(s.xreplace(num), 50)
                        try:
                            c = complex(v)
                        except (TypeError, ValueError):
                            continue
                        if abs(c.imag) < 1e-30:
                            pairs.append((s, hp(v)))
                for sym_root, x0 in pairs:
                    if not _interior(view, x0) or any(abs(x0 - y) <= 1e-25 * max(1, abs(y)) for y in seen):
                        continue
                    seen.append(x0)
                    jumps, order = _jump_orders(e, view.var, x0, ctx)
                    where = f"{view.label} = {sp.sstr(sym_root) if sym_root is not None else mpmath.nstr(x0, 15)}"
                    item = {"input": name, "variable": view.label, "at": where, "at_value": float(x0)}
                    if view.case:
                        item["case"] = view.case
                    if order is None:
                        worst = MAX_ORDER if worst is None else min(worst, MAX_ORDER)
                        notes.append(f"no jump up to order {MAX_ORDER} at {where}")
                        continue
                    worst = order - 1 if worst is None else min(worst, order - 1)
                    if order <= 1:
                        js = _symbolic_jump(e, view.var, sym_root, order, view, num, jumps[-1][1]) \
                            if sym_root is not None else None
                        item.update({"order": order, "discontinuous": order == 0,
                                     "jump": sp.sstr(js) if js is not None else mpmath.nstr(jumps[-1][1], 15),
                                     "jump_value": float(jumps[-1][1])})
                        kinks.append(item)
                    else:
                        item.update({"order": order, "jump_value": float(jumps[-1][1])})
                        breaks.append(item)
    if worst is None:
        continuity = "C∞"
    elif worst < 0:
        continuity = "discontinuous"
    else:
        continuity = f"C{worst}"
    return {"differentiable": not kinks, "kinks": kinks, "breakpoints": breaks, "continuity": continuity,
            "notes": notes}


__all__ = ["smoothness"]
