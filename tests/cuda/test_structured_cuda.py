"""Structured losses on CUDA (Numba's simulator, or a GPU when asked): ``.cuda`` against
torch autograd and against the CPU kernels, for row losses (class and embedding axes,
and the two axes of the VAE loss) and a set loss."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossgen

RNG = np.random.default_rng(7)


def _host(x):
    return x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy_on_device_matches_torch(cuda, reduction):
    ce = lossgen.get("softmax_cross_entropy")
    n, k = 37, 5
    x = RNG.normal(scale=4, size=(n, k))
    x[0] = [1e4, -1e4, 0, 3, 1e4]                       # a row of extreme logits stays finite
    t = RNG.integers(0, k, n)
    t[2] = -100                                         # an ignored row
    w = RNG.uniform(0.5, 2, k)
    loss, grad = ce.cuda.loss_grad(cuda.to_device(x), cuda.to_device(t), weight=cuda.to_device(w),
                                   label_smoothing=0.1, reduction=reduction)
    X = torch.tensor(x, requires_grad=True)
    L = F.cross_entropy(X, torch.tensor(t), weight=torch.tensor(w), label_smoothing=0.1, reduction=reduction)
    L.sum().backward()
    np.testing.assert_allclose(_host(loss), L.detach().numpy(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(_host(grad), X.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert np.isfinite(_host(grad)).all()


def test_triplet_on_device_matches_cpu_and_torch(cuda):
    tl = lossgen.get("triplet_margin")
    a, p, q = RNG.normal(size=(3, 29, 8)).astype(np.float32)
    loss, grads = tl.cuda.loss_grad(*(cuda.to_device(v) for v in (a, p, q)), swap=1.0)
    cpu_loss, cpu_grads = tl.loss_grad(a, p, q, swap=1.0)
    np.testing.assert_allclose(_host(loss), cpu_loss, rtol=1e-6)
    A, P, Q = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, p, q))
    F.triplet_margin_loss(A, P, Q, swap=True).backward()
    for g, c, T in zip(grads, cpu_grads, (A, P, Q)):
        assert _host(g).dtype == np.float32
        np.testing.assert_allclose(_host(g), c, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(_host(g), T.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_kl_div_on_device_matches_torch(cuda):
    kl = lossgen.get("kl_div")
    inp = np.log(RNG.dirichlet(np.ones(6), 20))
    tgt = RNG.dirichlet(np.ones(6), 20)
    loss, grad = kl.cuda.loss_grad(cuda.to_device(inp), cuda.to_device(tgt))
    I = torch.tensor(inp, requires_grad=True)
    F.kl_div(I, torch.tensor(tgt), reduction="batchmean").backward()
    np.testing.assert_allclose(_host(grad), I.grad.numpy(), rtol=1e-13, atol=1e-16)


def test_soft_dice_on_device_matches_cpu(cuda):
    d = lossgen.get("soft_dice")
    pred = RNG.uniform(size=(3, 7, 5))
    target = (RNG.uniform(size=(3, 7, 5)) > 0.5).astype(np.float64)
    loss, grad = d.cuda.loss_grad(cuda.to_device(pred), cuda.to_device(target), smooth=0.5)
    cpu_loss, cpu_grad = d.loss_grad(pred, target, smooth=0.5)
    np.testing.assert_allclose(_host(loss), cpu_loss, rtol=1e-14)
    np.testing.assert_allclose(_host(grad), cpu_grad, rtol=1e-13, atol=1e-16)
    zero_loss, zero_grad = d.cuda.loss_grad(cuda.to_device(np.zeros(16)), cuda.to_device(np.zeros(16)))
    assert _host(zero_loss) == 0.0 and np.isfinite(_host(zero_grad)).all()


def test_vae_on_device_matches_torch(cuda):
    """Two axes of different lengths (12 features, 3 latent dimensions), float32 and float64."""
    vae = lossgen.get("vae")
    z = RNG.normal(scale=3, size=(21, 12))
    x = RNG.uniform(size=(21, 12))
    mu, logvar = RNG.normal(size=(2, 21, 3))
    for dtype, rtol in ((np.float64, 1e-13), (np.float32, 1e-5)):
        arrays = [a.astype(dtype) for a in (z, x, mu, logvar)]
        loss, grads = vae.cuda.loss_grad(*(cuda.to_device(a) for a in arrays), beta=2.0)
        Z, X, M, LV = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays)
        want = (F.binary_cross_entropy_with_logits(Z, X, reduction="sum")
                - (1 + LV - M ** 2 - LV.exp()).sum()) / 21
        want.backward()
        np.testing.assert_allclose(_host(loss), want.item(), rtol=rtol)
        for g, T in zip(grads, (Z, M, LV)):
            assert _host(g).dtype == dtype and _host(g).shape == tuple(T.shape)
            np.testing.assert_allclose(_host(g), T.grad.numpy(), rtol=rtol, atol=1e-6 if dtype == np.float32 else 1e-15)
    with pytest.raises(ValueError, match=r"'logvar' has shape \(21, 2\); expected \(21, 3\): 2 'latent'"):
        vae.cuda.loss(*(cuda.to_device(np.ascontiguousarray(a)) for a in (z, x, mu, logvar[:, :2])))


def test_device_call_refuses_host_arrays_by_name(cuda):
    ce = lossgen.get("softmax_cross_entropy")
    with pytest.raises(TypeError, match="'logits' is not a device array"):
        ce.cuda.loss(np.zeros((2, 3)), cuda.to_device(np.zeros(2, np.int64)))


@pytest.mark.parametrize("name", lossgen.structured_catalog())
def test_every_structured_loss_on_device_matches_the_cpu(cuda, name):
    from structured_inputs import random_inputs
    L = lossgen.get(name)
    rng = np.random.default_rng(11)
    arrays = random_inputs(name, L.module, 23, 6, rng)
    for reduction in (("mean", "sum") if L.axis == "set" else ("mean", "none")):
        loss, grads = L.cuda.loss_grad(*(cuda.to_device(a) for a in arrays), reduction=reduction)
        cpu_loss, cpu_grads = L.loss_grad(*arrays, reduction=reduction)
        np.testing.assert_allclose(_host(loss), cpu_loss, rtol=1e-13, atol=1e-15)
        grads = grads if isinstance(grads, tuple) else (grads,)
        cpu_grads = cpu_grads if isinstance(cpu_grads, tuple) else (cpu_grads,)
        for g, c in zip(grads, cpu_grads):
            assert np.isfinite(c).all()
            np.testing.assert_allclose(_host(g), c, rtol=1e-12, atol=1e-15)
