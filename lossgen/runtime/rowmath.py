r"""Numba helpers for the row passes of structured kernels (generated ``row`` functions).

* :func:`exp_fast` — :math:`e^x` for float64, branch-free (so LLVM vectorizes a loop
  over it): :func:`lossgen.runtime.vecmath.exp`.
* :func:`sum_split_one` — over one row of a 2-d array, the sum of the entries that are not
  exactly 1 and the count of those that are (a softmax's shifted exponentials: the
  elements at the max give exactly 1; keeping them apart lets ``log1p`` keep the digits
  of a sum just above 1).  Compiled with ``fastmath={"reassoc"}`` only (no ``nnan``/``ninf``),
  so the sum vectorizes; its order is fixed for a given K, so results repeat bit for bit.
"""
from __future__ import annotations

import math

import numba
from numba import float64

from .vecmath import exp as exp_fast  # noqa: F401  (the generated row functions import it from here)


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
