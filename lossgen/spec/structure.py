r"""Reductions over non-batch axes: the map–reduce part of the spec model.

An elementwise loss maps each batch element independently.  A *structured* loss also
reduces over an axis that a spec declares on its inputs:

* a **class axis** (softmax cross-entropy: ``logsumexp_over(logits, "class")``),
* an **embedding axis** (triplet: ``norm_over(anchor - positive, "embed", 2)``),
* the **set** axis, i.e. the whole batch (Dice: ``sum_over(pred*target, "set")``).

Each reduction is a SymPy function ``R(expr, axis)`` whose first argument is an
expression over the elements along the axis and whose second argument is an
:class:`Axis` symbol.  Inside ``expr``, an input declared with that axis stands for
one element of it.  ``take(x, index)`` selects the element at an integer-valued index
(a class-index target).  Derivation through these nodes and their kernels belong to
the structured-loss stage; the elementwise pipeline recognises them and refuses them
with a clear message.
"""
from __future__ import annotations

import sympy as sp


class Axis(sp.Symbol):
    """A named axis, e.g. ``Axis("class")``; ``set`` is the batch axis reduced whole."""

    def __new__(cls, name: str):
        return super().__new__(cls, f"axis_{name}")

    @property
    def axis_name(self) -> str:
        return self.name[len("axis_"):]


class AxisReduction(sp.Function):
    """``R(expr, axis)``: a reduction of ``expr`` over the elements of ``axis``."""

    op: str = ""
    is_real = True

    def _latex(self, printer):
        body = printer._print(self.args[0])
        return rf"\operatorname{{{self.op}}}_{{{self.args[1].axis_name}}}\left({body}\right)"


class sum_over(AxisReduction):
    r"""\sum_k expr_k"""
    op = "sum"
    nargs = 2


class mean_over(AxisReduction):
    r"""\frac{1}{K}\sum_k expr_k"""
    op = "mean"
    nargs = 2


class max_over(AxisReduction):
    r"""\max_k expr_k"""
    op = "max"
    nargs = 2


class logsumexp_over(AxisReduction):
    r"""\log \sum_k e^{expr_k}"""
    op = "logsumexp"
    nargs = 2


class norm_over(AxisReduction):
    r"""(\sum_k |expr_k|^p)^{1/p}; the third argument is p (default 2)."""
    op = "norm"
    nargs = (2, 3)


class detach(sp.Function):
    r"""``detach(x)``: the value of ``x``, held constant by differentiation (torch's
    ``Tensor.detach``, JAX's ``stop_gradient``): :math:`\partial\,\mathrm{detach}(x)/\partial x = 0`.

    Circle loss weights each similarity by a factor computed from it but not
    differentiated.  Kernels compute ``x``; the gradient treats the factor as a constant,
    so it is not the derivative of the loss's value (which the documentation says).
    """

    nargs = 1

    #: what lambdify calls, in NumPy and in mpmath alike: the identity
    _imp_ = staticmethod(lambda x: x)

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer):
        return rf"\operatorname{{sg}}\left({printer._print(self.args[0])}\right)"


class take(sp.Function):
    """``take(x, index)``: the element of ``x`` along its axis at an integer index."""

    nargs = 2
    is_real = True


#: Reductions by the name a spec uses.
REDUCTIONS: dict[str, type[sp.Function]] = {
    cls.__name__: cls for cls in (sum_over, mean_over, max_over, logsumexp_over, norm_over)
}


def is_structured(expr: sp.Basic) -> bool:
    """True if ``expr`` reduces over any axis or indexes along one."""
    return bool(expr.atoms(AxisReduction) or expr.atoms(take))
