"""Timing on a noisy shared machine, and the memory-bandwidth reference.

``median_ms`` is the median of several samples, a sample being the mean of a few calls
when one call is short; the bandwidth reference is a trivial parallel Numba kernel
that reads and writes the bytes a fused loss+gradient moves: its time is the memory
roofline of that call.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import numba
import numpy as np
from numba import prange

SAMPLE_S = 0.06   # each timed sample lasts at least this long (several calls when they are fast)
BUDGET_S = 4.0    # and the samples of one measurement at most about this long (at least one)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median over ``repeat`` samples of the mean wall time of ``fn()`` in milliseconds,
    after one untimed warm-up call.  A sample runs ``fn`` k times, k chosen so that it
    lasts about SAMPLE_S (at most 10 calls): on this shared 2-core machine a single
    10 ms call is quantised by the scheduler's 4 ms tick.  At most about BUDGET_S is
    spent on the samples (one at least)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    k = max(1, min(10, math.ceil(SAMPLE_S / max(first, 1e-9))))
    # a kernel taking seconds per call (double-double forms at N = 1e7) gets fewer
    # samples, so that a run over the catalog stays within minutes
    repeat = max(1, min(repeat, int(BUDGET_S / max(first * k, 1e-9))))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        times.append((time.perf_counter() - t0) / k)
    return 1e3 * statistics.median(times)



# The sums carry fastmath={"reassoc"} as the generated sum kernels do (without it LLVM
# cannot vectorise a float reduction and the loop is latency-bound, not memory-bound).
@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _move_2_1(a, b, out):
    total = 0.0
    for i in prange(a.shape[0]):
        v = a[i] - b[i]
        out[i] = v
        total += v
    return total


@numba.njit(parallel=True, cache=True)
def _move_2_2(a, b, out1, out2):
    for i in prange(a.shape[0]):
        v = a[i] - b[i]
        out1[i] = v
        out2[i] = v


@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _move_rows(src, dst):
    """Read every row of ``src`` (k_in, n), write every row of ``dst`` (k_out, n), sum."""
    total = 0.0
    for i in prange(src.shape[1]):
        v = 0.0
        for j in range(src.shape[0]):
            v += src[j, i]
        for j in range(dst.shape[0]):
            dst[j, i] = v
        total += v
    return total


def bandwidth_call(n_in: int, n_out: int, n: int, dtype, rng, with_sum: bool = True) -> Callable[[], object]:
    """A call moving ``n_in`` input streams and ``n_out`` output streams of ``n`` values."""
    if n_in == 2 and n_out == 1 and with_sum:
        a, b = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        out = np.empty(n, dtype)
        return lambda: _move_2_1(a, b, out)
    if n_in == 2 and n_out == 2 and not with_sum:
        a, b = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        o1, o2 = np.empty(n, dtype), np.empty(n, dtype)
        return lambda: _move_2_2(a, b, o1, o2)
    src = rng.standard_normal((n_in, n)).astype(dtype)
    dst = np.empty((n_out, n), dtype)
    return lambda: _move_rows(src, dst)
