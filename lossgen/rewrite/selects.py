r"""Step factors become selects.

A derivative of a kinked loss carries step factors: ``Heaviside(u) * X`` (from
``Max``/``Min``/``Abs``).  Multiplying by a step is wrong in floating point wherever
``X`` overflows on the side the step switches off: ``0 * inf`` is NaN, while the
mathematics says 0 (torch's BCE clamps ``log p`` at -100, and its derivative
``Heaviside(log p + 100) * y/p`` must be 0 at ``p = 1e-250``, not NaN).  So

    Heaviside(u) * X  ->  Piecewise((X, u > 0), (X/2, u = 0), (0, otherwise))

which evaluates ``X`` only where it is used (a select in the kernel).
"""
from __future__ import annotations

import sympy as sp


def _select(mul: sp.Mul) -> sp.Expr:
    steps = [f for f in mul.args if isinstance(f, sp.Heaviside)]
    if not steps:
        return mul
    step = steps[0]
    rest = mul.func(*[f for f in mul.args if f is not step])
    u = step.args[0]
    return sp.Piecewise((rest, u > 0), (rest / 2, sp.Eq(u, 0)), (sp.S.Zero, True))


def step_selects(expr: sp.Expr) -> sp.Expr:
    """Replace every product with a ``Heaviside`` factor by a select (innermost first)."""
    return expr.replace(lambda e: e.is_Mul and any(isinstance(f, sp.Heaviside) for f in e.args), _select)
