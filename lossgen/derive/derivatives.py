r"""Symbolic gradients and Hessians.

For a loss :math:`L(x_1, \dots, x_k; \theta)` with differentiable inputs
:math:`x_1 \dots x_d`, :func:`derive` returns

* the gradient :math:`g_a = \partial L / \partial x_a` for each differentiable input, and
* the Hessian :math:`H_{ab} = \partial^2 L / \partial x_a \partial x_b` (symmetric; the
  diagonal is what elementwise kernels need, the cross terms serve losses with several
  differentiable inputs).

The derivatives of the stable primitives are written in stable primitives, so a
gradient of ``softplus`` is a ``sigmoid`` and never ``exp(x)/(1+exp(x))``.

Kinks: ``Abs``, ``Max``, ``Min`` and ``Heaviside`` differentiate to ``sign``,
``Heaviside`` and ``DiracDelta``.  The exact derivatives are kept here (the analysis
stage reads the Dirac weights); :func:`almost_everywhere` drops the Dirac terms for
kernels, which compute derivatives where they exist and the midpoint subgradient
(``sign(0) = 0``, ``Heaviside(0) = 1/2``) at a kink.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..spec.model import Spec


@dataclass(frozen=True)
class Derivatives:
    """First and second derivatives of ``spec.loss`` in its differentiable inputs."""

    wrt: tuple[sp.Symbol, ...]
    grad: tuple[sp.Expr, ...]
    hess: tuple[tuple[sp.Expr, ...], ...]

    def hess_diag(self) -> tuple[sp.Expr, ...]:
        return tuple(self.hess[a][a] for a in range(len(self.wrt)))


def almost_everywhere(expr: sp.Expr) -> sp.Expr:
    """The derivative where it exists: Dirac terms (mass at kinks) become 0, and so do
    the derivatives of steps SymPy leaves unevaluated (``Derivative(sign(r/c), pred)``)."""
    if not expr.has(sp.DiracDelta, sp.Derivative):
        return expr
    expr = expr.replace(lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.sign, sp.Heaviside)),
                        lambda e: sp.S.Zero)
    return expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Cheap, predictable clean-up (no full ``simplify``: its cost and output vary)."""
    expr = sp.piecewise_fold(expr) if expr.has(sp.Piecewise) else expr
    return sp.factor_terms(expr)


def derive(spec: Spec) -> Derivatives:
    """Gradient and Hessian of ``spec.loss`` with respect to each differentiable input."""
    wrt = tuple(i.symbol for i in spec.differentiable_inputs)
    grad = tuple(tidy(sp.diff(spec.loss, v)) for v in wrt)
    hess = []
    for a in range(len(wrt)):
        row = []
        for b, vb in enumerate(wrt):
            row.append(hess[b][a] if b < a else tidy(sp.diff(grad[a], vb)))
        hess.append(tuple(row))
    return Derivatives(wrt, grad, tuple(hess))
