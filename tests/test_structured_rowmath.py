"""The row helpers of structured kernels (lossgen.runtime.rowmath) against mpmath."""
import math

import mpmath
import numba
import numpy as np

from lossgen.runtime.rowmath import exp_fast, lse_finish, sum_split_one
from lossgen.runtime.vecmath import pow2


@numba.njit
def _map(x, out):
    for i in range(x.size):
        out[i] = exp_fast(x[i])


def test_exp_fast_within_one_ulp_of_mpmath():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-708, 709.7, 4000), rng.uniform(-1, 1, 2000), rng.uniform(-1e-8, 1e-8, 500),
                        [0.0, -0.0, 1e-300, -1e-300, 709.78, -708.39, 1.0, -1.0, 0.5 * math.log(2)]])
    out = np.empty_like(x)
    _map(x, out)
    with mpmath.workdps(40):
        want = np.array([float(mpmath.exp(mpmath.mpf(v))) for v in x])
    ulps = np.abs(out - want) / np.spacing(want)
    assert ulps.max() <= 1.0, (ulps.max(), x[np.argmax(ulps)])
    assert out[np.where(x == 0.0)[0]].tolist() == [1.0, 1.0]          # exactly 1 at 0


def test_exp_fast_edges():
    x = np.array([710.0, np.inf, -746.0, -np.inf, np.nan, -745.0, -740.0])
    out = np.empty_like(x)
    _map(x, out)
    assert out[0] == np.inf and out[1] == np.inf and out[2] == 0.0 and out[3] == 0.0 and np.isnan(out[4])
    with mpmath.workdps(40):       # subnormal results: within an ulp of the subnormal grid
        for v, got in zip(x[5:], out[5:]):
            assert abs(got - float(mpmath.exp(v))) <= 5e-324


def test_pow2_compiled_equals_python():
    f = numba.njit(lambda n: pow2(n))
    for n in (-1022, -537, -1, 0, 1, 52, 511, 1023):
        assert f(n) == pow2(n) == math.ldexp(1.0, n)


def test_sum_split_one_and_lse_finish():
    a = np.array([[0.5, 1.0, 1e-17, 1.0, 0.25]])
    s, c = sum_split_one(a, 0, 5)
    assert (s, c) == (0.75 + 1e-17, 2.0)
    # log(1 + 1e-15): the digits of a sum just above 1 survive
    assert lse_finish(3.0, 1e-15, 1.0) == 3.0 + math.log1p(1e-15)
