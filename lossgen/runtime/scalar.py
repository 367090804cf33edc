r"""Stable scalar primitives, compiled with ``numba.njit``.

Plain scalar Python using only ``math`` and comparisons, so that the same source
compiles for the CPU and as CUDA device functions.  Each is accurate in relative terms
over the whole float64 range (the accuracy certificate measures this against mpmath):

* ``sigmoid(x)``: 1/(1+e^{-x}) for x >= 0, e^{x}/(1+e^{x}) otherwise (no overflow).
* ``softplus(x) = max(x,0) + log1p(e^{-|x|})``; ``log_sigmoid(x) = min(x,0) - log1p(e^{-|x|})``.
* ``logcosh(x)``: log1p(2 sinh(|x|/2)^2) for |x| <= 1 (no cancellation near 0), else
  |x| + log1p(expm1(-2|x|)/2) (= |x| + log((1 + e^{-2|x|})/2); no overflow of cosh).
* ``logaddexp(a, b) = max(a,b) + log1p(e^{-|a-b|})`` (equal infinities handled).
* ``xlogy(x, y)``: 0 where x = 0, else x log y.
* ``sign``/``heaviside``: the midpoint subgradient at 0 (0 and 1/2); NaN propagates.

All are compiled with ``error_model="numpy"`` (as are the generated kernels): a float
division by zero gives inf/NaN as IEEE 754 says, instead of raising ZeroDivisionError.
"""
import math

import numba

_LOG2 = math.log(2.0)


@numba.njit(cache=True, error_model="numpy")
def sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True, error_model="numpy")
def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@numba.njit(cache=True, error_model="numpy")
def log_sigmoid(x):
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


@numba.njit(cache=True, error_model="numpy")
def logcosh(x):
    a = abs(x)
    if a <= 1.0:
        s = math.sinh(0.5 * a)
        return math.log1p(2.0 * s * s)
    return a + math.log1p(0.5 * math.expm1(-2.0 * a))


@numba.njit(cache=True, error_model="numpy")
def logaddexp(a, b):
    if a == b:
        return a + _LOG2
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@numba.njit(cache=True, error_model="numpy")
def xlogy(x, y):
    if x == 0:
        return 0.0 * y if y != y else 0.0
    return x * math.log(y)


@numba.njit(cache=True, error_model="numpy")
def log1p(x):
    return math.log1p(x)


@numba.njit(cache=True, error_model="numpy")
def expm1(x):
    return math.expm1(x)


@numba.njit(cache=True, error_model="numpy")
def sign(x):
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x * 0.0


@numba.njit(cache=True, error_model="numpy")
def heaviside(x):
    if x > 0:
        return 1.0
    if x < 0:
        return 0.0
    return 0.5 + x * 0.0
