"""The array kernels' two passes and block sums against the point functions.

Where a point function has guarded sums, a kernel runs its plain twin over every
element, then the fix twin over the elements whose guard failed (gathered, computed,
scattered back).  Each stored value must be the exact point function's, bit for bit, with
and without weights, for float64 and float32 inputs, across block boundaries; a sum
kernel's total must be the sum of the same values (math.fsum as the reference).
"""
import math

import numpy as np
import pytest

import lossgen
from lossgen.runtime.blocks import BLOCK
from lossgen.verify.accuracy import point_for_dtype

N = 3 * BLOCK + 17


def _inputs(name: str, dtype):
    rng = np.random.default_rng(5)
    if name == "poisson_nll":
        target = rng.poisson(3.0, N).astype(np.float64)
        # half the predictions at the fit (e^pred = target): the plain gradient cancels there
        pred = np.where(rng.uniform(size=N) < 0.5, np.log(np.maximum(target, 1.0)) + rng.normal(0, 1e-9, N),
                        rng.normal(0.5, 1.0, N))
    else:
        target = rng.uniform(0.01, 0.99, N)
        pred = np.where(rng.uniform(size=N) < 0.5, np.log(target / (1 - target)) + rng.normal(0, 1e-9, N),
                        rng.normal(0, 4, N))
    return [np.ascontiguousarray(pred, dtype=dtype), np.ascontiguousarray(target, dtype=dtype)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["bce_with_logits", "poisson_nll"])
def test_two_pass_kernels_store_the_exact_point_values(name, weighted, dtype):
    L = lossgen.get(name)
    m = L.module
    assert m.grad.py_func.__code__.co_names.count("point_grad_plain"), "the kernel should run the plain twin"
    xs = _inputs(name, dtype)
    params = [v for _, v in L.params]
    w = np.random.default_rng(6).uniform(0.5, 2.0, N) if weighted else np.empty(0)
    scale = 1.0 / N
    x64 = [x.astype(np.float64) for x in xs]
    # a float32 kernel calls its point functions with _float32=True (wider guards)
    plain_twin, point_grad = point_for_dtype(m.point_grad_plain, dtype), point_for_dtype(m.point_grad, dtype)
    flags = np.array([plain_twin(*[float(x[i]) for x in x64], *params)[1] for i in range(N)])
    assert 0.05 < flags.mean() < 0.95, "both passes should be exercised"
    point_g = np.array([point_grad(*[float(x[i]) for x in x64], *params) for i in range(N)])
    point_l = np.array([m.point_loss(*[float(x[i]) for x in x64], *params) for i in range(N)])
    ws = (w if weighted else np.ones(N)) * scale
    want_g = (point_g * ws).astype(dtype)

    out = np.empty(N, dtype)
    m.grad(*xs, w, *params, scale, out)
    np.testing.assert_array_equal(out, want_g)

    out2 = np.empty(N, dtype)
    total = m.loss_grad_sum(*xs, w, *params, scale, out2)
    np.testing.assert_array_equal(out2, want_g)
    wl = w if weighted else np.ones(N)
    assert total == pytest.approx(math.fsum(point_l * wl), rel=1e-13)

    out_l, out_g = np.empty(N, dtype), np.empty(N, dtype)
    m.loss_grad_none(*xs, w, *params, scale, out_l, out_g)
    np.testing.assert_array_equal(out_g, want_g)
    np.testing.assert_array_equal(out_l, (point_l * wl).astype(dtype))


def test_block_sums_do_not_depend_on_the_thread_count():
    """A two-pass kernel adds its blocks' totals in order."""
    import numba
    L = lossgen.get("bce_with_logits")
    xs = _inputs("bce_with_logits", np.float64)
    out = np.empty(N)
    totals = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            totals.append(L.module.loss_grad_sum(*xs, np.empty(0), 1.0, 1.0, out))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert totals[0] == totals[1]
