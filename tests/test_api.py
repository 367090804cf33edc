"""The array API contract of :class:`lossgen.Loss` (modelled on scikit-learn's loss tests).

Accuracy against mpmath, dtypes, reductions, weights, ``out=``, refusals, memory
layouts, runtime parameters, keyword inputs, threads and Numba's on-disk cache.
A few losses are reused throughout so that Numba compiles few kernels:
huber (one differentiable input), gaussian_nll (3 inputs, 2 differentiable),
dpo (4 inputs, 2 differentiable), mse (float32 accumulation) and zero_one
(non-differentiable).
"""
import math
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import mpmath
import numpy as np
import pytest

import lossgen
from lossgen.paths import generated_dir

F32_EPS = float(np.finfo(np.float32).eps)


def _tup(x):
    return x if isinstance(x, tuple) else (x,)


def _inputs(name, rng, shape, dtype=np.float64):
    """Inputs (in spec order) drawn from each input's domain, and non-default parameters."""
    if name == "huber":
        xs = [2.0 * rng.standard_normal(shape), rng.standard_normal(shape)]
        kw = {"delta": 1.3}
    elif name == "gaussian_nll":
        xs = [rng.standard_normal(shape), rng.standard_normal(shape), rng.uniform(0.1, 3.0, shape)]
        kw = {"full": 1, "eps": 1e-6}
    elif name == "dpo":
        xs = [rng.normal(-40.0, 5.0, shape) for _ in range(4)]
        kw = {"beta": 0.3, "label_smoothing": 0.1}
    else:  # pragma: no cover - test bug
        raise KeyError(name)
    return [x.astype(dtype) for x in xs], kw


# ---------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------

def _ulps(value, truth):
    """|value - truth| in units of np.spacing(|truth|) (float64)."""
    t = float(truth)
    scale = max(abs(t), float(np.finfo(np.float64).tiny))
    return float(abs(mpmath.mpf(float(value)) - truth) / float(np.spacing(scale)))


def test_huber_loss_grad_within_4_ulp_of_mpmath():
    rng = np.random.default_rng(1)
    n = 10_000
    delta = 1.3
    p = 2.0 * rng.standard_normal(n)
    y = rng.standard_normal(n)
    loss, grad = lossgen.get("huber").loss_grad(p, y, delta=delta, reduction="none")
    assert loss.shape == grad.shape == (n,)
    idx = rng.choice(n, 300, replace=False)
    worst_loss = worst_grad = 0.0
    branches = {"quadratic": 0, "linear": 0}
    with mpmath.workdps(30):
        d = mpmath.mpf(delta)  # the double nearest 1.3, exactly
        for i in idx:
            r = mpmath.mpf(float(p[i])) - mpmath.mpf(float(y[i]))  # exact residual
            if abs(r) <= d:
                branches["quadratic"] += 1
                lt, gt = r * r / 2, r
            else:
                branches["linear"] += 1
                lt, gt = d * (abs(r) - d / 2), mpmath.sign(r) * d
            worst_loss = max(worst_loss, _ulps(loss[i], lt))
            worst_grad = max(worst_grad, _ulps(grad[i], gt))
    # both pieces of the loss are exercised
    assert min(branches.values()) >= 50, branches
    assert worst_loss <= 4, f"loss off by {worst_loss:.2f} ulp"
    assert worst_grad <= 4, f"grad off by {worst_grad:.2f} ulp"


# ---------------------------------------------------------------------------------------
# dtypes
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    h = lossgen.get("huber")
    rng = np.random.default_rng(2)
    (p, y), kw = _inputs("huber", rng, 500, dtype)
    assert h.loss(p, y, reduction="none", **kw).dtype == dtype
    assert h.grad(p, y, **kw).dtype == dtype
    assert h.hess(p, y, **kw).dtype == dtype
    l, g = h.loss_grad(p, y, reduction="none", **kw)
    assert l.dtype == g.dtype == dtype
    g, hh = h.grad_hess(p, y, **kw)
    assert g.dtype == hh.dtype == dtype
    for red in ("sum", "mean"):
        s = h.loss(p, y, reduction=red, **kw)
        assert type(s) is np.dtype(dtype).type, (red, type(s))
        s, g = h.loss_grad(p, y, reduction=red, **kw)
        assert type(s) is np.dtype(dtype).type, (red, type(s))
        assert g.dtype == dtype


def test_dtype_is_preserved_multi_input():
    L = lossgen.get("gaussian_nll")
    rng = np.random.default_rng(3)
    xs, kw = _inputs("gaussian_nll", rng, 300, np.float32)
    gs = L.grad(*xs, **kw)
    assert isinstance(gs, tuple) and len(gs) == 2
    assert all(g.dtype == np.float32 for g in gs)
    assert type(L.loss(*xs, reduction="sum", **kw)) is np.float32


def test_float32_agrees_with_float64_to_float32_precision():
    h = lossgen.get("huber")
    rng = np.random.default_rng(4)
    (p, y), kw = _inputs("huber", rng, 10_000, np.float32)
    p64, y64 = p.astype(np.float64), y.astype(np.float64)  # the same values
    rtol = 4 * F32_EPS
    np.testing.assert_allclose(h.loss(p, y, reduction="none", **kw),
                               h.loss(p64, y64, reduction="none", **kw), rtol=rtol)
    np.testing.assert_allclose(h.grad(p, y, reduction="none", **kw),
                               h.grad(p64, y64, reduction="none", **kw), rtol=rtol)
    np.testing.assert_array_equal(h.hess(p, y, reduction="none", **kw),
                                  h.hess(p64, y64, reduction="none", **kw))
    s32 = h.loss(p, y, reduction="mean", **kw)
    s64 = h.loss(p64, y64, reduction="mean", **kw)
    assert abs(float(s32) - float(s64)) <= rtol * abs(float(s64))


def test_float32_sum_accumulates_in_float64():
    mse = lossgen.get("mse")
    rng = np.random.default_rng(5)
    n = 1_000_000
    p = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    elementwise = mse.loss(p, y, reduction="none")
    assert elementwise.dtype == np.float32
    # the truth: the exact sum of the squared residuals of the same float32 values
    r64 = p.astype(np.float64) - y.astype(np.float64)
    truth = math.fsum(r64 * r64)
    s = mse.loss(p, y, reduction="sum")
    assert type(s) is np.float32
    ours = abs(float(s) - truth) / truth
    assert ours < 1e-6, ours
    m = mse.loss(p, y, reduction="mean")
    assert abs(float(m) - truth / n) / (truth / n) < 1e-6
    # naive float32 accumulation of the same elementwise losses is far worse, so the
    # bound above does say something about how the sum is accumulated
    naive = np.cumsum(elementwise, dtype=np.float32)[-1]
    naive_err = abs(float(naive) - truth) / truth
    assert naive_err > 1e-5, naive_err
    assert naive_err > 10 * ours


# ---------------------------------------------------------------------------------------
# reductions and weights
# ---------------------------------------------------------------------------------------

REDUCTION_CASES = ["huber", "gaussian_nll", "dpo"]


def _close(a, b):
    """Equal to a few ulp (relative), or a few ulp of the largest |b| near a zero."""
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15 * float(np.max(np.abs(b), initial=0.0)))


def _close_sum(value, terms, n=1):
    """value == fsum(terms)/n within 1e-14 of the sum of |terms| (robust to cancellation)."""
    exact = math.fsum(terms) / n
    scale = math.fsum(np.abs(terms)) / n
    assert abs(float(value) - exact) <= 1e-14 * scale, (float(value), exact)


@pytest.mark.parametrize("name", REDUCTION_CASES)
def test_reductions_are_consistent(name):
    L = lossgen.get(name)
    rng = np.random.default_rng(6)
    n = 1000
    xs, kw = _inputs(name, rng, n)
    k = len(L.diff_names)

    none = L.loss(*xs, reduction="none", **kw)
    assert none.shape == (n,)
    _close_sum(L.loss(*xs, reduction="sum", **kw), none)
    _close_sum(L.loss(*xs, reduction="mean", **kw), none, n)

    for method in ("grad", "hess"):
        g_none = _tup(getattr(L, method)(*xs, reduction="none", **kw))
        g_sum = _tup(getattr(L, method)(*xs, reduction="sum", **kw))
        g_mean = _tup(getattr(L, method)(*xs, reduction="mean", **kw))
        assert len(g_none) == len(g_sum) == len(g_mean) == k
        for a, s, m in zip(g_none, g_sum, g_mean):
            np.testing.assert_array_equal(s, a)
            np.testing.assert_allclose(m, a / n, rtol=1e-15, atol=0)

    # the fused kernels share subexpressions, so they may round differently (a few ulp)
    g_ref = _tup(L.grad(*xs, reduction="none", **kw))
    h_ref = _tup(L.hess(*xs, reduction="none", **kw))
    for red, scale in (("none", 1.0), ("sum", 1.0), ("mean", 1.0 / n)):
        g, hh = L.grad_hess(*xs, reduction=red, **kw)
        for a, b in zip(_tup(g) + _tup(hh), g_ref + h_ref):
            _close(a, b * scale)

        l, g = L.loss_grad(*xs, reduction=red, **kw)
        if red == "none":
            _close(l, none)
        else:
            _close_sum(l, none, n if red == "mean" else 1)
        for a, b in zip(_tup(g), g_ref):
            _close(a, b * scale)


@pytest.mark.parametrize("name", ["huber", "gaussian_nll"])
def test_weights(name):
    L = lossgen.get(name)
    rng = np.random.default_rng(7)
    n = 800
    xs, kw = _inputs(name, rng, n)
    w = rng.uniform(0.0, 2.0, n)
    none = L.loss(*xs, reduction="none", **kw)
    np.testing.assert_allclose(L.loss(*xs, reduction="none", weight=w, **kw), w * none, rtol=1e-15, atol=0)
    # torch semantics: "mean" divides the weighted sum by n, not by sum(w)
    _close_sum(L.loss(*xs, reduction="sum", weight=w, **kw), w * none)
    _close_sum(L.loss(*xs, reduction="mean", weight=w, **kw), w * none, n)
    for red, scale in (("none", 1.0), ("sum", 1.0), ("mean", 1.0 / n)):
        for method in ("grad", "hess"):
            plain = _tup(getattr(L, method)(*xs, reduction=red, **kw))
            weighted = _tup(getattr(L, method)(*xs, reduction=red, weight=w, **kw))
            for a, b in zip(weighted, plain):
                np.testing.assert_allclose(a, w * b, rtol=1e-15, atol=0)
        g_plain = _tup(L.grad(*xs, reduction="none", **kw))
        l, g = L.loss_grad(*xs, reduction=red, weight=w, **kw)
        for a, b in zip(_tup(g), g_plain):
            np.testing.assert_allclose(a, w * b * scale, rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match=r"'weight'.*\(799,\)"):
        L.loss(*xs, weight=w[:-1], **kw)
    with pytest.raises(TypeError, match=r"'weight'.*int64"):
        L.loss(*xs, weight=np.ones(n, dtype=np.int64), **kw)


def test_empty_inputs():
    h = lossgen.get("huber")
    e = np.empty(0)
    assert h.loss(e, e, reduction="none").shape == (0,)
    assert h.loss(e, e, reduction="sum") == 0.0
    m = h.loss(e, e, reduction="mean")  # like torch: the mean of nothing is nan
    assert type(m) is np.float64 and np.isnan(m)
    assert h.grad(e, e, reduction="mean").shape == (0,)
    l, g = h.loss_grad(e, e, reduction="mean")
    assert np.isnan(l) and g.shape == (0,)
    g, hh = h.grad_hess(np.empty((0, 3)), np.empty((0, 3)))
    assert g.shape == hh.shape == (0, 3)


# ---------------------------------------------------------------------------------------
# out=
# ---------------------------------------------------------------------------------------

def test_out_buffers_are_returned():
    h = lossgen.get("huber")
    rng = np.random.default_rng(8)
    (p, y), kw = _inputs("huber", rng, (40, 25))
    ref_l = h.loss(p, y, reduction="none", **kw)
    ref_g = h.grad(p, y, reduction="mean", **kw)
    ref_h = h.hess(p, y, reduction="mean", **kw)

    buf = np.full_like(p, np.nan)
    assert h.loss(p, y, reduction="none", out=buf, **kw) is buf
    np.testing.assert_array_equal(buf, ref_l)

    g = np.full_like(p, np.nan)
    assert h.grad(p, y, reduction="mean", out=g, **kw) is g
    np.testing.assert_array_equal(g, ref_g)

    hh = np.full_like(p, np.nan)
    assert h.hess(p, y, reduction="mean", out=hh, **kw) is hh
    np.testing.assert_array_equal(hh, ref_h)

    lb, gb = np.full_like(p, np.nan), np.full_like(p, np.nan)
    rl, rg = h.loss_grad(p, y, reduction="none", out=(lb, gb), **kw)
    assert rl is lb and rg is gb
    np.testing.assert_array_equal(lb, ref_l)

    gb = np.full_like(p, np.nan)
    s, rg = h.loss_grad(p, y, reduction="mean", out=(None, gb), **kw)
    assert rg is gb
    np.testing.assert_array_equal(gb, ref_g)

    gb, hb = np.full_like(p, np.nan), np.full_like(p, np.nan)
    rg, rh = h.grad_hess(p, y, reduction="mean", out=(gb, hb), **kw)
    assert rg is gb and rh is hb
    np.testing.assert_array_equal(gb, ref_g)
    np.testing.assert_array_equal(hb, ref_h)


def test_out_buffers_multi_input():
    L = lossgen.get("gaussian_nll")
    rng = np.random.default_rng(9)
    xs, kw = _inputs("gaussian_nll", rng, 300)
    ref_g = L.grad(*xs, **kw)
    ref_h = L.hess(*xs, **kw)
    g1, g2 = np.empty(300), np.empty(300)
    r = L.grad(*xs, out=(g1, g2), **kw)
    assert r[0] is g1 and r[1] is g2
    h1, h2 = np.empty(300), np.empty(300)
    g1, g2 = np.empty(300), np.empty(300)
    rg, rh = L.grad_hess(*xs, out=((g1, g2), (h1, h2)), **kw)
    assert rg[0] is g1 and rg[1] is g2 and rh[0] is h1 and rh[1] is h2
    for a, b in zip(rg + rh, ref_g + ref_h):
        np.testing.assert_array_equal(a, b)


def test_bad_out_is_refused():
    h = lossgen.get("huber")
    rng = np.random.default_rng(10)
    (p, y), kw = _inputs("huber", rng, (20, 10))
    read_only = np.empty_like(p)
    read_only.flags.writeable = False
    bad = {
        "shape": np.empty((10, 20)),
        "dtype": np.empty((20, 10), np.float32),
        "strided": np.empty((40, 10))[::2],
        "fortran": np.asfortranarray(np.empty((20, 10))),
        "read-only": read_only,
    }
    for why, buf in bad.items():
        with pytest.raises(ValueError, match="out"):
            h.loss(p, y, reduction="none", out=buf, **kw)
        with pytest.raises(ValueError, match="out"):
            h.grad(p, y, out=buf, **kw)
        with pytest.raises(ValueError, match="out"):
            h.loss_grad(p, y, reduction="none", out=(None, buf), **kw)


def test_out_aliasing_an_input():
    h = lossgen.get("huber")
    rng = np.random.default_rng(11)
    (p, y), kw = _inputs("huber", rng, 5000)
    ref_l, ref_g = h.loss_grad(p, y, reduction="none", **kw)

    pc = p.copy()
    assert h.grad(pc, y, reduction="none", out=pc, **kw) is pc
    np.testing.assert_array_equal(pc, ref_g)

    pc = p.copy()
    h.loss(pc, y, reduction="none", out=pc, **kw)
    np.testing.assert_array_equal(pc, ref_l)

    # loss over target, gradient over pred
    pc, yc = p.copy(), y.copy()
    h.loss_grad(pc, yc, reduction="none", out=(yc, pc), **kw)
    np.testing.assert_array_equal(yc, ref_l)
    np.testing.assert_array_equal(pc, ref_g)

    # two differentiable inputs, gradients written crosswise over each other's input
    L = lossgen.get("gaussian_nll")
    xs, kw = _inputs("gaussian_nll", rng, 5000)
    ref = L.grad(*xs, **kw)
    pred, target, var = (x.copy() for x in xs)
    L.grad(pred, target, var, out=(var, pred), **kw)
    np.testing.assert_array_equal(var, ref[0])
    np.testing.assert_array_equal(pred, ref[1])


def test_out_partially_overlapping_an_input():
    """An out buffer that overlaps an input shifted by one element: a parallel chunk
    must not read what another chunk has already written (NumPy ufunc semantics)."""
    h = lossgen.get("huber")
    rng = np.random.default_rng(12)
    n = 100_001
    a = rng.standard_normal(n + 1)
    y = rng.standard_normal(n)
    ref = h.grad(a[1:].copy(), y, reduction="sum")
    b = a.copy()
    got = h.grad(b[1:], y, reduction="sum", out=b[:-1])
    np.testing.assert_array_equal(got, ref)
    b = a.copy()
    w = rng.uniform(0.5, 1.5, n)
    ref = h.loss(a[:-1].copy(), y, weight=w, reduction="none")
    got = h.loss(b[:-1], y, weight=w, reduction="none", out=b[1:])
    np.testing.assert_array_equal(got, ref)


# ---------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------

def test_mismatched_shapes_are_refused():
    h = lossgen.get("huber")
    with pytest.raises(ValueError, match=r"'target'.*\(4,\).*\(5,\)"):
        h.loss(np.zeros(5), np.zeros(4))
    L = lossgen.get("gaussian_nll")
    with pytest.raises(ValueError, match=r"'var'.*\(2, 3\).*\(3, 2\)"):
        L.grad(np.zeros((3, 2)), np.zeros((3, 2)), np.ones((2, 3)))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, np.float16])
def test_bad_dtypes_are_refused(dtype):
    h = lossgen.get("huber")
    good = np.zeros(4)
    bad = np.zeros(4, dtype=dtype)
    name = np.dtype(dtype).name
    with pytest.raises(TypeError, match=rf"'pred'.*{name}"):
        h.loss(bad, good)
    with pytest.raises(TypeError, match=rf"'target'.*{name}"):
        h.grad(good, bad)


def test_parameter_constraints_are_enforced():
    with pytest.raises(ValueError, match=r"delta.*delta > 0"):
        lossgen.get("huber").loss(np.zeros(3), np.zeros(3), delta=-1)
    with pytest.raises(ValueError, match=r"tau.*tau < 1"):
        lossgen.get("quantile").grad(np.zeros(3), np.zeros(3), tau=1.5)
    with pytest.raises(ValueError, match="delta"):
        lossgen.get("huber").loss(np.zeros(3), np.zeros(3), delta=float("nan"))
    with pytest.raises(TypeError, match="delta"):
        lossgen.get("huber").loss(np.zeros(3), np.zeros(3), delta="big")


def test_call_errors():
    h = lossgen.get("huber")
    x = np.zeros(3)
    with pytest.raises(TypeError, match="dleta"):
        h.loss(x, x, dleta=1.0)
    with pytest.raises(ValueError, match="reduction"):
        h.loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        h.grad(x, x, reduction="total")
    with pytest.raises(TypeError, match="input"):
        h.loss(x, x, x)
    with pytest.raises(TypeError, match="'target'"):
        h.loss(x)
    with pytest.raises(TypeError, match="'ref_chosen_logp'"):
        lossgen.get("dpo").loss(x, x)


def test_non_differentiable_loss():
    z = lossgen.get("zero_one")
    assert issubclass(lossgen.NotDifferentiableError, TypeError)
    pred = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    target = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    np.testing.assert_array_equal(z.loss(pred, target, reduction="none"), [1, 0, 1, 0, 1])
    assert z.loss(pred, target, reduction="mean") == pytest.approx(0.6)
    for method in ("grad", "hess", "loss_grad", "grad_hess", "hess_full"):
        with pytest.raises(lossgen.NotDifferentiableError, match="zero_one"):
            getattr(z, method)(pred, target)


# ---------------------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------------------

def _all_results(h, p, y, kw):
    out = [h.loss(p, y, reduction="none", **kw), h.loss(p, y, reduction="sum", **kw)]
    out += list(h.loss_grad(p, y, reduction="mean", **kw))
    out += list(h.grad_hess(p, y, reduction="none", **kw))
    return out


def _same(a_list, b_list):
    for a, b in zip(a_list, b_list):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)


def test_non_contiguous_inputs():
    h = lossgen.get("huber")
    rng = np.random.default_rng(13)
    kw = {"delta": 0.8}
    big_p, big_y = rng.standard_normal((2, 3000))
    # strided 1-d slices
    p, y = big_p[::3], big_y[1::3]
    assert not p.flags.c_contiguous
    _same(_all_results(h, p, y, kw), _all_results(h, p.copy(), y.copy(), kw))
    # Fortran-order 2-d, against a C-order 2-d target
    p2 = np.asfortranarray(big_p.reshape(60, 50))
    y2 = big_y.reshape(60, 50)
    assert not p2.flags.c_contiguous
    res = _all_results(h, p2, y2, kw)
    assert res[0].shape == (60, 50)
    _same(res, _all_results(h, np.ascontiguousarray(p2), y2, kw))
    # transposed
    pt, yt = big_p.reshape(60, 50).T, big_y.reshape(60, 50).T
    res = _all_results(h, pt, yt, kw)
    assert res[0].shape == (50, 60)
    _same(res, _all_results(h, np.ascontiguousarray(pt), np.ascontiguousarray(yt), kw))
    # weights may be non-contiguous too
    w = rng.uniform(0, 1, 6000)[::2].reshape(60, 50).T
    np.testing.assert_array_equal(h.loss(pt, yt, weight=w, reduction="none", **kw),
                                  h.loss(pt, yt, weight=w.copy(), reduction="none", **kw))


def test_read_only_inputs(tmp_path):
    h = lossgen.get("huber")
    rng = np.random.default_rng(14)
    kw = {"delta": 0.8}
    p, y = rng.standard_normal((2, 1000))
    ref = _all_results(h, p, y, kw)
    pr, yr = p.copy(), y.copy()
    pr.flags.writeable = False
    yr.flags.writeable = False
    _same(_all_results(h, pr, yr, kw), ref)
    path = tmp_path / "pred.f64"
    p.tofile(path)
    mm = np.memmap(path, dtype=np.float64, mode="r", shape=p.shape)
    assert not mm.flags.writeable
    _same(_all_results(h, mm, y, kw), ref)
    del mm


def test_nd_shapes_are_kept():
    L = lossgen.get("gaussian_nll")
    rng = np.random.default_rng(15)
    xs, kw = _inputs("gaussian_nll", rng, (3, 4, 5))
    flat = [x.reshape(-1) for x in xs]
    l = L.loss(*xs, reduction="none", **kw)
    assert l.shape == (3, 4, 5)
    np.testing.assert_array_equal(l.reshape(-1), L.loss(*flat, reduction="none", **kw))
    for g, gf in zip(L.grad(*xs, reduction="sum", **kw), L.grad(*flat, reduction="sum", **kw)):
        assert g.shape == (3, 4, 5)
        np.testing.assert_array_equal(g.reshape(-1), gf)
    gs, hs = L.grad_hess(*xs, **kw)
    assert all(a.shape == (3, 4, 5) for a in gs + hs)
    # a mean over an N-d array divides by the number of elements
    np.testing.assert_allclose(L.grad(*xs, reduction="mean", **kw)[0],
                               L.grad(*xs, reduction="sum", **kw)[0] / 60, rtol=1e-15)


# ---------------------------------------------------------------------------------------
# parameters and keyword inputs
# ---------------------------------------------------------------------------------------

def _overloads(kernel):
    return len(kernel.overloads)


def test_new_parameter_values_do_not_recompile():
    h = lossgen.get("huber")
    rng = np.random.default_rng(16)
    p, y = rng.standard_normal((2, 500))
    kernels = [h.module.loss_grad_none, h.module.loss_sum, h.module.grad]
    h.loss_grad(p, y, delta=1.0, reduction="none")
    h.loss(p, y, delta=1.0, reduction="sum")
    h.grad(p, y, delta=1.0)
    before = [_overloads(k) for k in kernels]
    sig_before = len(h.module.loss_grad_none.signatures)
    results = {}
    for delta in (0.1, 0.5, 2, 3.25, np.float32(0.7), np.float64(9.0)):
        l, g = h.loss_grad(p, y, delta=delta, reduction="none")
        h.loss(p, y, delta=delta, reduction="sum")
        h.grad(p, y, delta=delta)
        results[float(delta)] = l
    assert [_overloads(k) for k in kernels] == before
    assert len(h.module.loss_grad_none.signatures) == sig_before
    # and the parameter did take effect
    r = p - y
    for delta, l in results.items():
        expect = np.where(np.abs(r) <= delta, r * r / 2, delta * (np.abs(r) - delta / 2))
        np.testing.assert_allclose(l, expect, rtol=1e-15, atol=0)


def test_inputs_by_keyword():
    h = lossgen.get("huber")
    rng = np.random.default_rng(17)
    p, y = rng.standard_normal((2, 100))
    ref = h.loss(p, y, reduction="none")
    np.testing.assert_array_equal(h.loss(pred=p, target=y, reduction="none"), ref)
    np.testing.assert_array_equal(h.loss(target=y, pred=p, reduction="none"), ref)
    np.testing.assert_array_equal(h.loss(p, target=y, reduction="none"), ref)
    np.testing.assert_array_equal(h.grad(p, target=y, delta=0.5), h.grad(p, y, delta=0.5))
    with pytest.raises(TypeError, match="'pred'.*position.*keyword"):
        h.loss(p, y, pred=p)
    with pytest.raises(TypeError, match="'target'.*position.*keyword"):
        h.grad(p, y, target=y)


# ---------------------------------------------------------------------------------------
# threads and processes
# ---------------------------------------------------------------------------------------

def test_thread_safety():
    L = lossgen.get("gaussian_nll")
    rng = np.random.default_rng(18)
    jobs = []
    for t in range(4):
        xs, kw = _inputs("gaussian_nll", rng, 20_000)
        jobs.append((xs, dict(kw, eps=10.0 ** -(t + 3))))

    def run(xs, kw):
        l, g = L.loss_grad(*xs, reduction="mean", **kw)
        gg, hh = L.grad_hess(*xs, reduction="none", **kw)
        return [l, *g, *gg, *hh, L.loss(*xs, reduction="none", **kw)]

    serial = [run(*job) for job in jobs]
    results = [[None] * 25 for _ in range(4)]
    errors = []
    barrier = threading.Barrier(4)

    def worker(t):
        try:
            barrier.wait()
            for rep in range(25):
                results[t][rep] = run(*jobs[t])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    assert not errors, errors
    for t in range(4):
        for rep in range(25):
            got, ref = results[t][rep], serial[t]
            # the mean: a parallel sum, whose grouping may follow the threads available
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-14, atol=0)
            for a, b in zip(got[1:], ref[1:]):  # elementwise: bit for bit
                np.testing.assert_array_equal(a, b)


_CHILD = textwrap.dedent("""
    import time
    import numpy as np
    import lossgen
    h = lossgen.get("huber")
    p = np.linspace(-3, 3, 1001)
    y = np.zeros_like(p)
    # the first kernel call also pays Numba's one-time start-up (LLVM, threading layer);
    # the first calls of three more kernels then measure compile-or-load alone
    v = h.loss(p, y, delta=1.1, reduction="sum")
    t0 = time.perf_counter()
    h.loss(p, y, delta=1.1, reduction="none")
    h.grad(p, y, delta=1.1)
    h.grad_hess(p, y, delta=1.1)
    print(time.perf_counter() - t0, repr(float(v)))
""")


def _run_child(env):
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seconds, value = out.stdout.split()
    return float(seconds), float(value)


def test_numba_disk_cache_makes_a_second_process_fast(tmp_path):
    """A fresh cache directory: the first process compiles the kernels (of the order of
    a second), the second loads them from disk (milliseconds)."""
    lossgen.get("huber")  # fails early (and clearly) on a stale generated module
    cache = tmp_path / "numba_cache"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    cold, v1 = _run_child(env)
    index = sorted(p.name for p in cache.rglob("huber.*.nbi"))
    assert any(n.startswith("huber.grad_hess-") for n in index), index
    warm, v2 = _run_child(env)
    assert v1 == v2
    assert warm < cold / 5, (cold, warm)


def test_numba_cache_files_next_to_generated_module():
    """Without NUMBA_CACHE_DIR the cache lies in generated/__pycache__."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        pytest.skip("NUMBA_CACHE_DIR moves the cache elsewhere")
    h = lossgen.get("huber")
    h.loss(np.zeros(4), np.ones(4), reduction="sum")
    module_file = Path(h.module.__file__).resolve()
    assert module_file.parent == generated_dir().resolve()
    cache = module_file.parent / "__pycache__"
    assert list(cache.glob("huber.loss_sum-*.nbi")), sorted(p.name for p in cache.glob("huber.*"))
