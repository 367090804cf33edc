r"""Numba helpers for the row passes of structured kernels (generated ``row`` functions).

* :func:`exp_fast` — :math:`e^x` for float64 by Cody–Waite range reduction
  (:math:`x = n\ln 2 + r`, :math:`|r| \le \ln 2 / 2`, ln 2 in two parts), a degree-13
  Taylor polynomial by Estrin's scheme and a scaling by :math:`2^n` built from the bits of the
  exponent (in two factors, so results down to the subnormals and up to the largest
  double come out right).  Branch-free (selects only), so LLVM vectorizes a loop over it,
  which it cannot do around libm's ``exp``.  Within 1 ulp of the correctly rounded value
  over the normal range (measured against ``numpy.exp`` and mpmath in
  ``tests/test_structured_rowmath.py``); exactly 1 at 0, inf above 709.78, 0 below -745.2,
  NaN for NaN.
* :func:`pow2` — :math:`2^n` for an integer n in [-1022, 1023]: the bit pattern of the
  double on the CPU and GPU, ``math.ldexp`` in plain Python (Numba's CUDA simulator).
* :func:`sum_split_one` — over one row of a 2-d array, the sum of the entries that are not
  exactly 1 and the count of those that are (a softmax's shifted exponentials: the
  elements at the max give exactly 1; keeping them apart lets ``log1p`` keep the digits
  of a sum just above 1).  Compiled with ``fastmath={"reassoc"}`` only (no ``nnan``/``ninf``),
  so the sum vectorizes; its order is fixed for a given K, so results repeat bit for bit.
"""
from __future__ import annotations

import math

import numba
from llvmlite import ir
from numba import float64, types
from numba.extending import intrinsic, overload

LOG2E = 1.4426950408889634
LN2_HI = 0.6931471803691238       # ln 2 rounded to 32 significant bits: n*LN2_HI is exact
LN2_LO = 1.9082149292705877e-10   # ln 2 - LN2_HI


@intrinsic
def _bits_as_float(typingctx, i):
    """The int64 ``i`` reinterpreted as the bits of a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


def pow2(n):
    """2.0**n for an integer (or integer-valued) n in [-1022, 1023]."""
    return math.ldexp(1.0, int(n))


@overload(pow2, target="generic")  # CPU and CUDA
def _pow2_compiled(n):
    def impl(n):
        return _bits_as_float((numba.int64(n) + 1023) << 52)
    return impl


@numba.njit(error_model="numpy")
def exp_fast(x):
    """e**x, branch-free (see the module docstring)."""
    y = min(max(x, -745.5), 709.9)
    n = math.floor(y * LOG2E + 0.5)
    r = y - n * LN2_HI - n * LN2_LO
    # degree-13 Taylor polynomial: 1 + (r + r^2*t(r)), t by Estrin's scheme (a short
    # dependency chain); the small terms are summed first, the 1 last
    r2 = r * r
    r4 = r2 * r2
    a1 = 0.5 + r * (1.0 / 6.0)
    a2 = 1.0 / 24.0 + r * (1.0 / 120.0)
    a3 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    t = (a1 + a2 * r2) + (a3 + a4 * r2) * r4 + (a5 + a6 * r2) * (r4 * r4)
    p = 1.0 + (r + r2 * t)
    n1 = math.floor(n * 0.5)
    v = p * pow2(n1) * pow2(n - n1)
    v = math.inf if x > 709.782712893384 else v
    v = 0.0 if x < -745.1332191019412 else v
    return x if math.isnan(x) else v


@numba.njit(fastmath={"reassoc"}, error_model="numpy")
def sum_split_one(a, i, k):
    """(sum of a[i, :k] entries != 1, count of entries == 1), in float64."""
    s = 0.0
    c = 0.0
    for j in range(k):
        v = float64(a[i, j])
        one = v == 1.0
        s += 0.0 if one else v
        c += 1.0 if one else 0.0
    return s, c


@numba.njit(error_model="numpy")
def lse_finish(m, s, c):
    """log(sum_k e^{b_k}) = m + log1p((c - 1) + s) from the shift m, the sum s of the
    shifted exponentials that are not exactly 1 and the count c of those that are; in this
    order, outside the reassociated row code."""
    return m + math.log1p((c - 1.0) + s)
