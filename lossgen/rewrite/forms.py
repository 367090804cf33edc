r"""Equivalent forms of an expression that the lowering measures as candidates, beyond
the rule table, factoring and simplifying (:mod:`.lower`).

* :func:`distributed`: products multiplied out over compound sums, linear sums held
  whole, powers of one base merged again.
"""
from __future__ import annotations

import sympy as sp


def _linear_sum(e: sp.Expr) -> bool:
    """Whether ``e`` is a sum of numbers, symbols and number*symbol terms (a residual
    ``pred - target``, a parameter's ``1 - p``): sums that distributing must not split."""
    return isinstance(e, sp.Add) and all(
        t.is_Number or t.is_Symbol or (isinstance(t, sp.Mul) and len(t.args) == 2
                                       and t.args[0].is_Number and t.args[1].is_Symbol)
        for t in e.args)


def distributed(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with products distributed over compound sums, linear sums held whole:
    :math:`(1 - r^2/v)/(2v) \to 1/(2v) - r^2/(2v^2)` and
    :math:`2x^{-p-1}(p\,y + (1-p)\,x) \to 2p\,y\,x^{-p-1} + 2(1-p)\,x^{-p}`.
    Each term is then one product, whose factors the compensated printer pairs
    (:math:`(r/v)^2`) and orders (:math:`y\,x^{-p-1}` before the constants), so no
    partial product overflows where the term does not."""
    held = {}
    for node in sp.postorder_traversal(expr):
        if _linear_sum(node) and node not in held:
            held[node] = sp.Dummy("s")
    body = expr.xreplace(held) if held else expr
    # powers of one base merged again (x * x**(-p-1) -> x**(-p), which does not
    # underflow where x**(-p-1) does)
    body = sp.powsimp(sp.expand_mul(body, deep=True), combine="exp")
    return body.xreplace({d: s for s, d in held.items()})
