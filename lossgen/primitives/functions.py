r"""Stable primitives as SymPy functions.

Each primitive is a :class:`sympy.Function` that knows

* its derivative (``fdiff``), written again in stable primitives, so that derived
  gradients stay in stable terms (d softplus = sigmoid, d log_sigmoid = sigmoid(-x), ...);
* its elementary definition (:meth:`Primitive.elementary`), used to state and check the math;
* its high-precision value (:meth:`Primitive.mpmath`), accurate in relative terms even where
  the elementary form cancels (log1p near 0, logcosh near 0);
* a vectorised float implementation (:meth:`Primitive.numpy`) with the same algorithm as
  the scalar kernel in :mod:`lossgen.runtime.scalar`, used to measure candidate forms;
* its LaTeX form and the name of its scalar implementation in :mod:`lossgen.runtime.scalar`.

Definitions:

=============== =============================================
sigmoid(x)      1 / (1 + e^{-x})
log1pmx(x)      log(1 + x) - x
expm1mx(x)      e^x - 1 - x
softplus(x)     log(1 + e^{x})
log_sigmoid(x)  log sigmoid(x) = -softplus(-x)
logcosh(x)      log cosh x
logaddexp(a,b)  log(e^a + e^b)
xlogy(x, y)     x log y, and 0 where x = 0
mul_sigmoid(a,x) a sigmoid(x), accurate where sigmoid(x) is subnormal
log1p(x)        log(1 + x)
expm1(x)        e^x - 1
=============== =============================================
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import sympy as sp

from ..runtime import scalar as _scalar
from ..runtime.vecmath import _log_reduced
from ..runtime.scalar import LN2_HI, LN2_LO, MUL_SIGMOID_SWITCH
from . import mp


class Primitive(sp.Function):
    """Base class of lossgen's stable primitives."""

    runtime_name: str = ""
    latex_name: str = ""

    @classmethod
    def elementary(cls, *args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def mpmath(*args):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def numpy(*args):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def eval(cls, *args):
        # Fold exact numbers (sigmoid(0) -> 1/2); keep everything else symbolic.
        if all(a.is_Rational for a in args) and args:
            value = cls.elementary(*args)
            if value.is_Rational or len(value.atoms(sp.Function)) == 0:
                return value
        return None

    def _eval_is_real(self):
        if all(a.is_extended_real for a in self.args):
            return True
        return None

    def _latex(self, printer):
        inner = ", ".join(printer._print(a) for a in self.args)
        return rf"\operatorname{{{self.latex_name}}}\left({inner}\right)"


class sigmoid(Primitive):
    runtime_name = "sigmoid"
    latex_name = "sigmoid"

    @classmethod
    def elementary(cls, x):
        return 1 / (1 + sp.exp(-x))

    @staticmethod
    def mpmath(x):
        return 1 / (1 + mp.exp(-x))

    @staticmethod
    def numpy(x):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sigmoid(x) * sigmoid(-x)

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None

    def _latex(self, printer):
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class softplus(Primitive):
    runtime_name = "softplus"
    latex_name = "softplus"

    @classmethod
    def elementary(cls, x):
        return sp.log(1 + sp.exp(x))

    @staticmethod
    def mpmath(x):
        return mpmath.log1p(mp.exp(x))

    @staticmethod
    def numpy(x):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_is_positive(self):
        return True if self.args[0].is_extended_real else None


class log_sigmoid(Primitive):
    runtime_name = "log_sigmoid"
    latex_name = "log\\sigma"

    @classmethod
    def elementary(cls, x):
        return -sp.log(1 + sp.exp(-x))

    @staticmethod
    def mpmath(x):
        return -mpmath.log1p(mp.exp(-x))

    @staticmethod
    def numpy(x):
        return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def fdiff(self, argindex=1):
        return sigmoid(-self.args[0])

    def _eval_is_negative(self):
        return True if self.args[0].is_extended_real else None

    def _latex(self, printer):
        return rf"\log\sigma\left({printer._print(self.args[0])}\right)"


class logcosh(Primitive):
    runtime_name = "logcosh"
    latex_name = "logcosh"

    @classmethod
    def elementary(cls, x):
        return sp.log(sp.cosh(x))

    @staticmethod
    def mpmath(x):
        # log cosh x = log1p(2 sinh(x/2)^2): no cancellation near 0.
        return mpmath.log1p(2 * mp.sinh(x / 2) ** 2)

    @staticmethod
    def numpy(x):
        # the kernel's algorithm (runtime.scalar.logcosh): log1p(u), u = cosh a - 1 by its
        # series for a = |x| <= 1, else (a - ln2_hi) + (log1p(u) - ln2_lo) with u = e^{-2a}
        a = np.abs(np.asarray(x, dtype=np.float64))
        near = a <= 1.0
        with np.errstate(all="ignore"):
            u = _log1p_moderate(np.where(near, _cosh_minus_one(np.minimum(a, 1.0)), np.exp(-2.0 * a)))
            return np.where(near, u, (a - LN2_HI) + (u - LN2_LO))

    def fdiff(self, argindex=1):
        return sp.tanh(self.args[0])

    def _eval_is_nonnegative(self):
        return True if self.args[0].is_extended_real else None

    def _latex(self, printer):
        return rf"\log\cosh\left({printer._print(self.args[0])}\right)"


def _cosh_minus_one(a):
    """cosh a - 1 for 0 <= a <= 1 on arrays, as the kernels compute it (the runtime
    function is pure arithmetic, so its Python source runs on NumPy arrays)."""
    return _scalar._cosh_minus_one.py_func(a)


def _log1p_moderate(f):
    """log(1 + f) for 0 <= f <= 0.55 on arrays, as the kernels compute it
    (runtime.scalar._log1p_moderate: vecmath's log series with k = c = 0)."""
    return _log_reduced.py_func(0.0, f, 0.0)


class logaddexp(Primitive):
    runtime_name = "logaddexp"
    latex_name = "logaddexp"
    nargs = 2

    @classmethod
    def elementary(cls, a, b):
        return sp.log(sp.exp(a) + sp.exp(b))

    @staticmethod
    def mpmath(a, b):
        m = max(a, b)
        return m + mpmath.log1p(mp.exp(-abs(a - b)))

    @staticmethod
    def numpy(a, b):
        return np.logaddexp(a, b)

    def fdiff(self, argindex=1):
        a, b = self.args
        return sigmoid(a - b) if argindex == 1 else sigmoid(b - a)


class xlogy(Primitive):
    runtime_name = "xlogy"
    latex_name = "xlogy"
    nargs = 2

    @classmethod
    def elementary(cls, x, y):
        return sp.Piecewise((0, sp.Eq(x, 0)), (x * sp.log(y), True))

    @classmethod
    def eval(cls, x, y):
        if x.is_zero:
            return sp.S.Zero
        return super().eval(x, y)

    @staticmethod
    def mpmath(x, y):
        return mpmath.mpf(0) if x == 0 else x * mpmath.log(y)

    @staticmethod
    def numpy(x, y):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))

    def fdiff(self, argindex=1):
        x, y = self.args
        return sp.log(y) if argindex == 1 else x / y

    def _latex(self, printer):
        x, y = (printer._print(a) for a in self.args)
        return rf"{x}\log\left({y}\right)"


class log1p(Primitive):
    runtime_name = "log1p"
    latex_name = "log1p"

    @classmethod
    def elementary(cls, x):
        return sp.log(1 + x)

    @staticmethod
    def mpmath(x):
        return mpmath.log1p(x)

    @staticmethod
    def numpy(x):
        return np.log1p(x)

    def fdiff(self, argindex=1):
        return 1 / (1 + self.args[0])

    def _eval_is_real(self):
        x = self.args[0]
        if x.is_extended_real and (x + 1).is_positive:
            return True
        return None

    def _latex(self, printer):
        return rf"\log\left(1 + {printer._print(self.args[0])}\right)"


class expm1(Primitive):
    runtime_name = "expm1"
    latex_name = "expm1"

    @classmethod
    def elementary(cls, x):
        return sp.exp(x) - 1

    @staticmethod
    def mpmath(x):
        return mp.expm1(x)

    @staticmethod
    def numpy(x):
        return np.expm1(x)

    def fdiff(self, argindex=1):
        return sp.exp(self.args[0])

    def _latex(self, printer):
        return rf"\left(e^{{{printer._print(self.args[0])}}} - 1\right)"


def _elementwise(name: str, x) -> np.ndarray:
    """The kernel's own scalar algorithm (:mod:`lossgen.runtime.scalar`) over an array."""
    from ..runtime import scalar
    f = getattr(scalar, name)
    x = np.asarray(x, dtype=np.float64)
    return np.array([f(float(v)) for v in x.ravel()], dtype=np.float64).reshape(x.shape)


def _cancelled_digits(x) -> int:
    """Digits lost when x + x^2/2 + ... has its leading x removed (about |log10 x|)."""
    x = mpmath.mpf(x)
    return 20 + (int(-mpmath.log10(abs(x))) if x != 0 and abs(x) < 1 else 0)


class log1pmx(Primitive):
    """log(1 + x) - x, without the cancellation of the two near 0 (where it is -x^2/2).

    Kernel: for -0.7 <= x <= 1, with u = x/(2 + x) (so log(1 + x) = 2 atanh u and
    x - 2u = u x):  log(1 + x) - x = 2 (u^3/3 + u^5/5 + ...) - u x, a sum of terms
    that do not cancel (u and u x carried to about 2^-100, since near x = -0.7 their
    rounding would show); elsewhere log1p(x) - x directly."""

    runtime_name = "log1pmx"
    latex_name = "log1pmx"

    @classmethod
    def elementary(cls, x):
        return sp.log(1 + x) - x

    @staticmethod
    def mpmath(x):
        with mpmath.workdps(mpmath.mp.dps + _cancelled_digits(x)):
            return +(mpmath.log1p(x) - x)

    @staticmethod
    def numpy(x):
        return _elementwise("log1pmx", x)

    def fdiff(self, argindex=1):
        x = self.args[0]
        return -x / (1 + x)

    def _latex(self, printer):
        x = printer._print(self.args[0])
        return rf"\left(\log\left(1 + {x}\right) - {x}\right)"


class expm1mx(Primitive):
    """e^x - 1 - x, without the cancellation near 0 (where it is x^2/2).

    Kernel: the Taylor series x^2/2! + x^3/3! + ... for -1 <= x <= 2; elsewhere
    expm1(x) - x directly."""

    runtime_name = "expm1mx"
    latex_name = "expm1mx"

    @classmethod
    def elementary(cls, x):
        return sp.exp(x) - 1 - x

    @staticmethod
    def mpmath(x):
        with mpmath.workdps(mpmath.mp.dps + _cancelled_digits(x)):
            return +(mp.expm1(x) - x)

    @staticmethod
    def numpy(x):
        return _elementwise("expm1mx", x)

    def fdiff(self, argindex=1):
        return expm1(self.args[0])

    def _eval_is_nonnegative(self):
        return True if self.args[0].is_real else None

    def _latex(self, printer):
        x = printer._print(self.args[0])
        return rf"\left(e^{{{x}}} - 1 - {x}\right)"


class mul_sigmoid(Primitive):
    r"""``a * sigmoid(x)`` without a subnormal intermediate: for x <= -700
    (``MUL_SIGMOID_SWITCH``), sigmoid(x) =
    e^x to double precision (1 + e^x rounds to 1) and is computed as
    (a e^{x/2}) e^{x/2}, so only the final product can be subnormal (and as 0 where
    e^{x/2} underflows, x < -1490, even for an infinite a); a sigmoid(x) of
    e^{-745} rounds to the smallest subnormal (75 % off) before a factor ~100 scales the
    error up.  Only the lowering writes it (:func:`lossgen.rewrite.lower.scaled_sigmoids`)."""

    runtime_name = "mul_sigmoid"
    latex_name = "mul_sigmoid"
    nargs = 2

    @classmethod
    def elementary(cls, a, x):
        return a / (1 + sp.exp(-x))

    @staticmethod
    def mpmath(a, x):
        return a / (1 + mp.exp(-x))

    @staticmethod
    def numpy(a, x):
        a, x = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(x, dtype=np.float64))
        h = np.exp(0.5 * np.minimum(x, MUL_SIGMOID_SWITCH))
        tiny = np.where((h == 0.0) & ~np.isnan(a), 0.0, (a * h) * h)
        return np.where(x > MUL_SIGMOID_SWITCH, a * sigmoid.numpy(x), tiny)

    def fdiff(self, argindex=1):
        a, x = self.args
        if argindex == 1:
            return sigmoid(x)
        return mul_sigmoid(a, x) * sigmoid(-x)

    def _latex(self, printer):
        return rf"\left({printer._print(self.args[0])}\right) \sigma\left({printer._print(self.args[1])}\right)"


#: Every primitive by the name a spec uses for it.
PRIMITIVES: dict[str, type[Primitive]] = {
    cls.__name__: cls for cls in (sigmoid, softplus, log_sigmoid, logcosh, logaddexp, xlogy, log1p, expm1,
                                  log1pmx, expm1mx, mul_sigmoid)
}


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """Replace every primitive by its elementary definition (for stating the math)."""
    return expr.replace(lambda e: isinstance(e, Primitive), lambda e: type(e).elementary(*e.args))
