"""Vectorised float64 evaluation of an expression, with IEEE semantics (overflow to
inf, NaN propagation, no exceptions) and the kernels' conventions: primitives by
their kernel algorithm (:meth:`Primitive.numpy`), ``sign(0) = 0``, ``Heaviside(0) = 1/2``,
Dirac terms dropped.  Used to measure how accurate a candidate form is."""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from ..primitives import PRIMITIVES

_MODULES = [{**{n: c.numpy for n, c in PRIMITIVES.items()},
             "Heaviside": lambda x, *_: np.heaviside(x, 0.5), "sign": np.sign}, "numpy"]


@functools.lru_cache(maxsize=4096)
def _lambdified(expr: sp.Expr, args: tuple[sp.Symbol, ...]):
    # the lowering measures the same pieces (a compensated program's functions and
    # conditions) once per candidate: lambdify costs more than the evaluation
    expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    return sp.lambdify(args, expr, modules=_MODULES)


def float_function(expr: sp.Expr, args: tuple[sp.Symbol, ...]):
    """``f(*arrays) -> float64 array`` computing ``expr`` elementwise."""
    f = _lambdified(expr, tuple(args))

    def call(*arrays):
        n = len(arrays[0]) if arrays and np.ndim(arrays[0]) else 1
        with np.errstate(all="ignore"):
            out = f(*[np.asarray(a, dtype=np.float64) for a in arrays])
        return np.broadcast_to(np.asarray(out, dtype=np.float64), (n,))
    return call
