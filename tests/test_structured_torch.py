"""Structured catalog losses against torch.nn.functional and autograd on random data
(float64 and float32), the stability cases (logits of ±1e4, an all-zero Dice mask) and
the argument errors."""
import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossgen

RNG = np.random.default_rng(3)


def _torch_grad(fn, *arrays):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {"rtol": 2e-6, "atol": 2e-7}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2}, {"weight": True, "label_smoothing": 0.05},
                                     {"weight": True, "ignore_index": 3}])
def test_softmax_cross_entropy_matches_torch(dtype, reduction, options):
    ce = lossgen.get("softmax_cross_entropy")
    n, k = 200, 9
    x = RNG.normal(scale=5, size=(n, k)).astype(dtype)
    t = RNG.integers(0, k, n)
    t[::17] = -100 if "ignore_index" not in options else options["ignore_index"]
    kw = dict(options)
    w = RNG.uniform(0.2, 3.0, k).astype(dtype)
    if kw.pop("weight", False):
        kw["weight"] = w
    loss, grad = ce.loss_grad(x, t, reduction=reduction, **kw)
    tkw = {"label_smoothing": kw.get("label_smoothing", 0.0), "ignore_index": int(kw.get("ignore_index", -100))}
    if "weight" in kw:
        tkw["weight"] = torch.tensor(w, dtype=torch.float64)
    want, (g,) = _torch_grad(lambda X: F.cross_entropy(X, torch.tensor(t), reduction=reduction, **tkw), x)
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
    np.testing.assert_allclose(loss, want, **_tol(dtype))
    np.testing.assert_allclose(grad, g, **_tol(dtype))
    # loss alone sums its exponentials in another order than loss_grad (which keeps them for
    # the gradient): equal to rounding
    np.testing.assert_allclose(ce.loss(x, t, reduction=reduction, **kw), loss, **_tol(dtype))
    np.testing.assert_array_equal(ce.grad(x, t, reduction=reduction, **kw), grad)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", [{}, {"p": 1.0, "margin": 0.3}, {"p": 3.0, "swap": 1.0, "eps": 1e-4}])
def test_triplet_margin_matches_torch(dtype, options):
    tl = lossgen.get("triplet_margin")
    a, p, q = RNG.normal(size=(3, 150, 16)).astype(dtype)
    loss, grads = tl.loss_grad(a, p, q, **options)
    want, gs = _torch_grad(lambda A, P, Q: F.triplet_margin_loss(
        A, P, Q, margin=options.get("margin", 1.0), p=options.get("p", 2.0), eps=options.get("eps", 1e-6),
        swap=bool(options.get("swap", 0))), a, p, q)
    np.testing.assert_allclose(loss, want, **_tol(dtype))
    for got, g in zip(grads, gs):
        np.testing.assert_allclose(got, g, **_tol(dtype))


@pytest.mark.parametrize("log_target", [0.0, 1.0])
@pytest.mark.parametrize("reduction,torch_reduction", [("mean", "batchmean"), ("sum", "sum")])
def test_kl_div_matches_torch(log_target, reduction, torch_reduction):
    kl = lossgen.get("kl_div")
    inp = np.log(RNG.dirichlet(np.ones(12), 100))
    tgt = RNG.dirichlet(np.full(12, 0.3), 100)
    tgt[0, :3] = 0.0
    if log_target:
        tgt = np.log(tgt + 1e-12)
    loss, grad = kl.loss_grad(inp, tgt, log_target=log_target, reduction=reduction)
    want, (g,) = _torch_grad(lambda I: F.kl_div(I, torch.tensor(tgt), reduction=torch_reduction,
                                                 log_target=bool(log_target)), inp)
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    np.testing.assert_allclose(grad, g, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("margin", [0.0, 0.5, -0.2])
def test_cosine_embedding_matches_torch(margin):
    ce = lossgen.get("cosine_embedding")
    x1, x2 = RNG.normal(size=(2, 120, 10))
    y = RNG.choice([-1.0, 1.0], 120)
    loss, (g1, g2) = ce.loss_grad(x1, x2, y, margin=margin)
    want, (t1, t2) = _torch_grad(lambda A, B: F.cosine_embedding_loss(A, B, torch.tensor(y), margin=margin), x1, x2)
    np.testing.assert_allclose(loss, want, rtol=1e-12)
    np.testing.assert_allclose(g1, t1, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(g2, t2, rtol=1e-10, atol=1e-15)


def test_soft_dice_matches_torch_autograd():
    d = lossgen.get("soft_dice")
    pred = RNG.uniform(size=(4, 3, 16, 16))
    target = (RNG.uniform(size=pred.shape) > 0.7).astype(np.float64)
    loss, grad = d.loss_grad(pred, target, smooth=0.5)
    want, (g,) = _torch_grad(lambda P: 1 - (2 * (P * torch.tensor(target)).sum() + 0.5)
                             / (P.sum() + float(target.sum()) + 0.5), pred)
    assert grad.shape == pred.shape
    np.testing.assert_allclose(loss, want, rtol=1e-13)
    np.testing.assert_allclose(grad, g, rtol=1e-12, atol=1e-18)


# ---- stability -----------------------------------------------------------------------

def test_cross_entropy_with_logits_of_1e4_is_finite_and_exact():
    ce = lossgen.get("softmax_cross_entropy")
    x = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4 - 1, -3.0, 2.0]])
    t = np.array([1, 2, 0])
    loss, grad = ce.loss_grad(x, t, reduction="none")
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    with mpmath.workdps(50):
        for i in range(3):
            row = [mpmath.mpf(v) for v in x[i]]
            lse = mpmath.log(sum(mpmath.exp(v) for v in row))
            assert abs(loss[i] - float(lse - row[t[i]])) <= 4e-16 * abs(float(lse - row[t[i]])) + 1e-300
            want = [float(mpmath.exp(v - lse)) - (j == t[i]) for j, v in enumerate(row)]
            np.testing.assert_allclose(grad[i], want, rtol=1e-15, atol=1e-300)
    xt = torch.tensor(x, requires_grad=True)
    F.cross_entropy(xt, torch.tensor(t), reduction="none").sum().backward()
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-15)


def test_cross_entropy_float32_logits_of_1e4():
    ce = lossgen.get("softmax_cross_entropy")
    x = np.array([[1e4, -1e4, 0.0], [3e4, 2e4, -3e4]], dtype=np.float32)
    loss, grad = ce.loss_grad(x, np.array([1, 1]), reduction="none")
    assert loss.dtype == np.float32 and np.isfinite(loss).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(loss, [2e4, 1e4], rtol=1e-7)


def test_all_zero_dice_mask_is_finite():
    d = lossgen.get("soft_dice")
    z = np.zeros((2, 8, 8))
    loss, grad = d.loss_grad(z, z)
    assert loss == 0.0 and np.isfinite(grad).all()
    np.testing.assert_allclose(grad, 1.0)              # d/dp [1 - 1/(sum p + 1)] at p = 0
    assert np.isfinite(d.loss_grad(z, z, smooth=0.0)[0]) is np.False_  # smooth = 0: 0/0, as the formula says


# ---- arguments -----------------------------------------------------------------------

def test_argument_errors_name_the_argument_and_the_shape():
    ce = lossgen.get("softmax_cross_entropy")
    x = np.zeros((4, 3))
    t = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"'logits' has shape \(4,\); expected \(n, K\)"):
        ce.loss(np.zeros(4), t)
    with pytest.raises(ValueError, match=r"'target' has shape \(3,\); expected \(4,\)"):
        ce.loss(x, t[:3])
    with pytest.raises(TypeError, match=r"'target' has dtype float64; expected an integer array"):
        ce.loss(x, t.astype(float))
    with pytest.raises(ValueError, match=r"'weight' has shape \(4,\); expected \(4, 3\) or \(3,\)"):
        ce.loss(x, t, weight=np.ones(4))
    with pytest.raises(ValueError, match=r"'target' holds the class index 3, outside \[0, 3\)"):
        ce.loss(x, np.array([0, 3, 1, 1]))
    with pytest.raises(TypeError, match="unexpected keyword argument.*smoothing"):
        ce.loss(x, t, smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing"):
        ce.loss(x, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="missing input array 'target'"):
        ce.loss(x)
    tl = lossgen.get("triplet_margin")
    with pytest.raises(ValueError, match=r"'negative' has shape \(4, 2\); expected \(4, 3\)"):
        tl.loss(x, x, np.zeros((4, 2)))
    d = lossgen.get("soft_dice")
    with pytest.raises(ValueError, match="reduction='none'"):
        d.loss(np.zeros(3), np.zeros(3), reduction="none")
    with pytest.raises(ValueError, match=r"'target' has shape \(2,\); expected \(3,\)"):
        d.loss(np.zeros(3), np.zeros(2))


# ---- the rest of the catalog against torch (functional or autograd of its definition) --

def _tv(P, T, a, b, s, g=1.0):
    tp, fp, fn = (P * T).sum(), (P * (1 - T)).sum(), ((1 - P) * T).sum()
    return (1 - (tp + s) / (tp + a * fp + b * fn + s)) ** g


def _focal(X, T, a, gamma):
    lp = F.log_softmax(X, 1).gather(1, T[:, None])[:, 0]
    return (a[T] * (1 - lp.exp()) ** gamma * -lp).mean()


def _crammer_singer(X, T, margin):
    onehot = F.one_hot(T, X.shape[1]).to(X.dtype)
    return (X - X.gather(1, T[:, None]) + margin * (1 - onehot)).max(1).values.mean()


def _arcface(C, T, s=64.0, m=0.5):
    """insightface's ArcFace head: the target logit cos(theta + m), with its fallback."""
    import math
    ct = C.gather(1, T[:, None])[:, 0]
    phi = ct * math.cos(m) - torch.sqrt(1 - ct ** 2) * math.sin(m)
    phi = torch.where(ct > math.cos(math.pi - m), phi, ct - math.sin(math.pi - m) * m)
    return F.cross_entropy(s * C.scatter(1, T[:, None], phi[:, None]), T)


def _circle(S, P, N, m=0.4, gamma=80.0):
    """Sun et al.'s circle loss in torch ops, the weights detached (as pytorch-metric-learning)."""
    zp = -gamma * torch.relu(1 + m - S.detach()) * (S - (1 - m))
    zn = gamma * torch.relu(S.detach() + m) * (S - m)
    lse = lambda z, mask: torch.logsumexp(z.masked_fill(mask == 0, -float("inf")), dim=1)
    # softplus as logaddexp(0, x): F.softplus returns x itself above 20, off by e^-x
    x = lse(zp, P) + lse(zn, N)
    return torch.logaddexp(torch.zeros_like(x), x).mean()


REFERENCES = {
    "circle": ({"m": 0.4, "gamma": 80.0}, lambda S, P, N: _circle(S, P, N)),
    # torch computes these from logits of size s (30, 64): its own rounding is ~1e-14 of that
    "cosface": ({"s": 30.0, "m": 0.35}, lambda C, T: F.cross_entropy(30.0 * (C - 0.35 * F.one_hot(T, C.shape[1]).to(C.dtype)), T)),
    "arcface": ({}, lambda C, T: _arcface(C, T)),
    "uncertainty_weighting": ({}, lambda L, S: (torch.exp(-2 * S) * L / 2 + S).sum(1).mean()),
    # name: (params, torch function of (tensors..., index tensor or None))
    "info_nce": ({"temperature": 0.3}, lambda X, T: F.cross_entropy(X / 0.3, T)),
    "poly1_cross_entropy": ({"epsilon": 2.0}, lambda X, T: (lambda ce: (ce + 2.0 * (1 - torch.exp(-ce))).mean())(
        F.cross_entropy(X, T, reduction="none"))),
    "multiclass_focal": ({"gamma": 1.5}, lambda X, T, A: _focal(X, T, A, 1.5)),
    "multi_margin": ({"p": 2.0, "margin": 0.7}, lambda X, T, W: F.multi_margin_loss(X, T, p=2, margin=0.7, weight=W)),
    "crammer_singer": ({"margin": 1.0}, lambda X, T, OH: _crammer_singer(X, T, 1.0)),
    "jensen_shannon": ({}, lambda P, Q: (0.5 * (P * torch.log(2 * P / (P + Q))).sum(1)
                                         + 0.5 * (Q * torch.log(2 * Q / (P + Q))).sum(1)).mean()),
    "contrastive": ({"margin": 3.0}, lambda A, B, Y: ((1 - Y) * torch.linalg.norm(A - B, dim=1) ** 2 / 2 + Y * torch.clamp(
        3.0 - torch.linalg.norm(A - B, dim=1), min=0) ** 2 / 2).mean()),
    "rmsle": ({}, lambda P, T: torch.sqrt(((torch.log1p(P) - torch.log1p(T)) ** 2).mean())),
    "tversky": ({"alpha": 0.3, "beta": 0.7, "smooth": 0.1}, lambda P, T: _tv(P, T, 0.3, 0.7, 0.1)),
    "focal_tversky": ({}, lambda P, T: _tv(P, T, 0.7, 0.3, 1.0, 0.75)),
    "soft_jaccard": ({}, lambda P, T: 1 - ((P * T).sum() + 1) / (P.sum() + T.sum() - (P * T).sum() + 1)),
    # features and latent dimensions of different lengths (structured_inputs.axis_lengths)
    "vae": ({"beta": 4.0}, lambda Z, X, M, LV: (F.binary_cross_entropy_with_logits(Z, X, reduction="sum")
                                                - 2.0 * (1 + LV - M ** 2 - LV.exp()).sum()) / Z.shape[0]),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_catalog_loss_matches_torch_autograd(name):
    from structured_inputs import random_inputs
    L = lossgen.get(name)
    params, ref = REFERENCES[name]
    arrays = random_inputs(name, L.module, 64, 7, np.random.default_rng(17))
    loss, grads = L.loss_grad(*arrays, **params)
    grads = grads if isinstance(grads, tuple) else (grads,)
    ts = [torch.tensor(a) if a.dtype.kind in "iu" else torch.tensor(a, dtype=torch.float64,
                                                                       requires_grad=n in L.diff_names)
          for a, n in zip(arrays, L.input_names)]
    want = ref(*ts)
    want.backward()
    scale = params.get("s", 64.0) if name in ("cosface", "arcface") else 1.0
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12, atol=1e-15 * scale)
    for g, n in zip(grads, L.diff_names):
        np.testing.assert_allclose(g, ts[L.input_names.index(n)].grad.numpy(), rtol=1e-10, atol=1e-15)


def test_multi_margin_with_class_weights_matches_torch():
    L = lossgen.get("multi_margin")
    x = RNG.normal(size=(80, 5))
    t = RNG.integers(0, 5, 80)
    w = RNG.uniform(0.5, 2.0, 5)
    for p in (1, 2):
        loss, grad = L.loss_grad(x, t, weight=w, p=float(p), margin=0.5)
        want, (g,) = _torch_grad(lambda X, p=p: F.multi_margin_loss(X, torch.tensor(t), p=p, margin=0.5,
                                                                    weight=torch.tensor(w)), x)
        np.testing.assert_allclose(loss, want, rtol=1e-13)
        np.testing.assert_allclose(grad, g, rtol=1e-12, atol=1e-16)


def test_cross_entropy_edge_batches_as_torch():
    ce = lossgen.get("softmax_cross_entropy")
    x = RNG.normal(size=(3, 4))
    ignored = np.array([-100, -100, -100])
    loss, grad = ce.loss_grad(x, ignored)
    X = torch.tensor(x, requires_grad=True)
    want = F.cross_entropy(X, torch.tensor(ignored))
    want.backward()
    assert np.isnan(loss) and np.isnan(want.item())
    np.testing.assert_array_equal(grad, X.grad.numpy())             # all zero
    empty = (np.zeros((0, 4)), np.zeros(0, np.int64))
    assert ce.loss(*empty, reduction="sum") == 0.0 and np.isnan(ce.loss(*empty))
    assert ce.loss(x, np.array([1, 2, 3], np.int32)) == ce.loss(x, np.array([1, 2, 3]))
