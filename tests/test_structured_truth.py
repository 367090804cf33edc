"""Structured catalog losses against the ground truth: each spec written out for a small
fixed size (every reduction expanded into its scalar formula, every take resolved;
lossgen.verify.structured_truth) and evaluated, with ``sympy.diff`` of it, in mpmath at
high precision.  The kernels' chain rule through the reductions is what is under test."""
import numpy as np
import pytest

import lossgen
from lossgen.catalog import spec_for
from lossgen.verify.structured_truth import row_truth, to_float

RNG = np.random.default_rng(20261122)
N, K = 3, 4
EPS = np.finfo(float).eps


def _close(got, want, what, rel=64 * EPS):
    want = np.array([to_float(w) for w in np.ravel(want)]).reshape(np.shape(got))
    scale = max(np.max(np.abs(want)), 1e-300)
    err = np.max(np.abs(np.asarray(got, dtype=np.float64) - want)) / scale
    assert err <= rel, f"{what}: relative error {err:.2e} (> {rel:.1e})\n got  {got}\n want {want}"


def _check_rows(name, arrays, params, positional, rel=64 * EPS):
    """Per-row loss (reduction='none') and per-row gradients (reduction='sum') vs the truth."""
    L = lossgen.get(name)
    spec = spec_for(name)
    wrt = L.diff_names
    loss = L.loss(*positional, reduction="none", **params)
    grads = L.grad(*positional, reduction="sum", **params)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i in range(N):
        value, g, _ = row_truth(spec, arrays, i, params, wrt)
        _close([loss[i]], [value], f"{name} loss, row {i}")
        for w, gw in zip(wrt, grads):
            _close(gw[i], g[w], f"{name} d/d{w}, row {i}", rel)
    return L, spec


@pytest.mark.parametrize("params", [{}, {"label_smoothing": 0.15}])
def test_softmax_cross_entropy(params):
    x = RNG.normal(scale=3, size=(N, K))
    t = np.array([2, 0, 3])
    w = RNG.uniform(0.5, 2.0, K)
    arrays = {"logits": x, "target": t, "weight": w}
    L, spec = _check_rows("softmax_cross_entropy", arrays, params, (x, t, w))
    # mean: divided by the sum of the target classes' weights (torch); an ignored row counts nothing
    t2 = np.array([2, -100, 3])
    arrays2 = dict(arrays, target=t2)
    truth = [row_truth(spec, arrays2, i, params, (), grads=False) for i in range(N)]
    mean = sum(to_float(v) for v, _, _ in truth) / sum(to_float(m) for _, _, m in truth)
    _close([L.loss(x, t2, w, reduction="mean", **params)], [mean], "weighted mean")


@pytest.mark.parametrize("params", [{}, {"p": 3.0, "swap": 1.0, "margin": 2.0, "eps": 1e-3}, {"p": 1.0}])
def test_triplet_margin(params):
    a, p, q = RNG.normal(size=(3, N, K))
    _check_rows("triplet_margin", {"anchor": a, "positive": p, "negative": q}, params, (a, p, q))


@pytest.mark.parametrize("log_target", [0.0, 1.0])
def test_kl_div(log_target):
    inp = np.log(RNG.dirichlet(np.ones(K), N))
    tgt = RNG.dirichlet(np.ones(K), N)
    tgt[1, 2] = 0.0                                   # 0 * log 0 = 0
    if log_target:
        tgt = np.log(tgt + 1e-3)
    _check_rows("kl_div", {"input": inp, "target": tgt}, {"log_target": log_target}, (inp, tgt))


@pytest.mark.parametrize("margin", [0.0, 0.4])
def test_cosine_embedding(margin):
    x1, x2 = RNG.normal(size=(2, N, K))
    y = np.array([1.0, -1.0, -1.0])
    x2[2] = 0.9 * x1[2] + 0.01                        # a dissimilar pair past the margin
    # d cos / d x1 = x2/(|x1||x2|) - cos*x1/|x1|^2 cancels for nearly parallel pairs
    # (condition ~ 1/sin of the angle): a looser bound there
    _check_rows("cosine_embedding", {"x1": x1, "x2": x2, "y": y}, {"margin": margin}, (x1, x2, y),
                rel=512 * np.finfo(float).eps)


@pytest.mark.parametrize("smooth", [1.0, 1e-3])
def test_soft_dice(smooth):
    pred = RNG.uniform(size=7)
    target = (RNG.uniform(size=7) > 0.5).astype(float)
    d = lossgen.get("soft_dice")
    value, g, _ = row_truth(spec_for("soft_dice"), {"pred": pred, "target": target}, None, {"smooth": smooth},
                            ("pred",))
    loss, grad = d.loss_grad(pred, target, smooth=smooth)
    _close([loss], [value], "dice loss")
    _close(grad, g["pred"], "dice gradient")


@pytest.mark.parametrize("name", lossgen.structured_catalog())
def test_every_structured_loss_against_the_truth(name):
    """Every structured catalog loss at default parameters on random inputs of its domains."""
    from structured_inputs import random_inputs
    L = lossgen.get(name)
    spec = spec_for(name)
    arrays = random_inputs(name, L.module, N, K, np.random.default_rng(5))
    named = dict(zip(L.input_names, arrays))
    rel = 512 * np.finfo(float).eps
    if L.axis == "set":
        value, g, _ = row_truth(spec, named, None, {}, L.diff_names)
        loss, grads = L.loss_grad(*arrays)
        grads = grads if isinstance(grads, tuple) else (grads,)
        _close([loss], [value], f"{name} loss", rel)
        for w, gw in zip(L.diff_names, grads):
            _close(gw.ravel(), g[w], f"{name} d/d{w}", rel)
    else:
        _check_rows(name, named, {}, arrays, rel)
