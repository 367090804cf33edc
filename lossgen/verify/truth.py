"""Ground truth: a spec's expressions evaluated with mpmath at high precision.

Kernels are checked against these values, never against themselves.  An expression
is turned into an mpmath function by SymPy's ``lambdify`` (on our own printed
expression, never on spec text), with

* each stable primitive evaluated by its accurate mpmath definition
  (:meth:`lossgen.primitives.Primitive.mpmath`),
* ``sign``/``Heaviside`` at 0 as the midpoint subgradient (0, 1/2), the kernels'
  convention, and Dirac terms (kink masses) dropped: derivatives where they exist;
* exp, sinh and cosh by :mod:`lossgen.primitives.mp` (the same values as mpmath's,
  fast at huge arguments).

``exact_derivative(spec, v)`` is ``sympy.diff`` of the spec's loss as written: the
derivation stage's own output is what is under test, so the truth does not use it.

Precision is adaptive: an expression as written can cancel catastrophically even in
mpmath (the second derivative of log(1 + e^x) at x = 800 needs about 350 digits), so
a value is accepted only when evaluations at successively higher precision (50, 100,
200, ... up to 1600 digits) agree to 30 significant digits; zero is accepted only when it
holds at 1600 digits.  The first precision also covers the spread of the arguments'
magnitudes (DIGITS more digits than the decimal exponents of the largest and the
smallest non-zero argument differ by; the increments are then 50, 100, 200, ... digits
as from 50), so that a sum of arguments is exact: otherwise
``(a - 0.98) - (0.48 + a)`` at a = 9e307 gives 0 at 50 and at 100 digits alike, and the
two evaluations agree on the wrong value.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable

import mpmath
import sympy as sp

from ..primitives import PRIMITIVES, mp
from ..spec.model import Spec

DIGITS = 50
MAX_DIGITS = 1600
AGREE = mpmath.mpf(10) ** -30


def _mp_sign(x):
    return mpmath.mpf(0) if x == 0 else mpmath.sign(x)


def _mp_heaviside(x, *_):
    return mpmath.mpf(0.5) if x == 0 else (mpmath.mpf(1) if x > 0 else mpmath.mpf(0))


_MODULES = [{**{n: c.mpmath for n, c in PRIMITIVES.items()}, "sign": _mp_sign, "Heaviside": _mp_heaviside,
             "DiracDelta": lambda *a: mpmath.mpf(0), "exp": mp.exp, "sinh": mp.sinh, "cosh": mp.cosh},
            "mpmath"]


def _spread_digits(values) -> int:
    """Decimal digits between the largest and the smallest non-zero finite argument."""
    exps = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if x != 0 and math.isfinite(x):
            exps.append(math.frexp(x)[1])
    return math.ceil((max(exps) - min(exps)) * math.log10(2)) if exps else 0


def mp_function(expr: sp.Expr, args) -> Callable:
    """``f(*values) -> mpf``: ``expr`` at the given values, computed in mpmath.

    One function per expression in a process, which remembers its values (at the
    working precision a caller set): the lowering's probe grid contains the accuracy
    certificate's, and both measure the same loss and derivatives."""
    return _mp_function(expr, tuple(args))


@functools.lru_cache(maxsize=256)
def _mp_function(expr: sp.Expr, args: tuple[sp.Symbol, ...]) -> Callable:
    expr = expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    f = sp.lambdify(args, expr, modules=_MODULES)
    memo: dict = {}

    def once(dps, values):
        with mpmath.workdps(dps):
            return mpmath.mpf(f(*[mpmath.mpf(v) for v in values]))

    def call(*values):
        key = (mpmath.mp.dps, values)
        try:
            return memo[key]
        except KeyError:
            pass
        except TypeError:       # an unhashable value: not remembered
            return _converged(values)
        memo[key] = value = _converged(values)
        return value

    def _converged(values):
        # never lower the precision a caller (e.g. mpmath.diff) has raised
        dps = max(DIGITS + _spread_digits(values), mpmath.mp.dps)
        prev = once(dps, values)
        step = DIGITS  # 50, 100, 200, ... as before when the arguments' spread is small
        while dps < MAX_DIGITS:
            dps, step = min(dps + step, MAX_DIGITS), 2 * step
            cur = once(dps, values)
            # a zero is never taken as agreement: cancellation can give exactly 0 at
            # two precisions (1 - e^-690 rounds to 1 at 200 digits); only the cap can
            if cur != 0 and mpmath.isfinite(cur) and abs(cur - prev) <= AGREE * abs(cur):
                return cur
            if not mpmath.isfinite(cur) and not mpmath.isfinite(prev):
                return cur
            prev = cur
        return prev
    return call


def spec_args(spec: Spec) -> tuple[sp.Symbol, ...]:
    return tuple(i.symbol for i in spec.inputs) + tuple(p.symbol for p in spec.params)


def exact_derivative(spec: Spec, *wrt: sp.Symbol) -> sp.Expr:
    return sp.diff(spec.loss, *wrt)


def finite_difference(f, values: list, index: int, order: int = 1):
    """d^order f / d value[index], by mpmath's high-precision finite differences."""
    with mpmath.workdps(DIGITS):
        def g(x):
            v = list(values)
            v[index] = x
            return f(*v)
        return mpmath.diff(g, mpmath.mpf(values[index]), order)
