"""Metric-learning losses against pytorch-metric-learning (PML), the library people use
for them, on random embeddings and labels: PML computes its losses from embeddings
(cosine similarities, class weights W); lossgen's take the similarities, so the test forms
them in torch, calls lossgen, and carries lossgen's gradient back to the embeddings with
torch.autograd.grad, to compare with PML's autograd gradient.

Skipped where PML is not installed (it is in the test extras)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossgen

pml_losses = pytest.importorskip("pytorch_metric_learning.losses")

N, D, CLASSES = 36, 12, 6


def _embeddings(seed):
    rng = np.random.default_rng(seed)
    E = torch.tensor(rng.normal(size=(N, D)), requires_grad=True)
    labels = torch.tensor(rng.permutation(np.repeat(np.arange(CLASSES), N // CLASSES)))
    return E, labels


def _back_to(E, fn, grad):
    """d(loss)/dE from lossgen's gradient ``grad`` of the similarities ``fn(E)``."""
    E2 = E.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(E2), E2, grad_outputs=torch.tensor(grad))
    return g.numpy()


def _cosines(E):
    En = F.normalize(E, dim=1)
    return En @ En.T


@pytest.mark.parametrize("m, gamma", [(0.4, 80.0), (0.25, 256.0)])
def test_circle_matches_pml(m, gamma):
    E, labels = _embeddings(0)
    want = pml_losses.CircleLoss(m=m, gamma=gamma)(E, labels)
    want.backward()
    same = (labels[:, None] == labels[None, :]).double()
    positive = (same - torch.eye(N, dtype=torch.float64)).numpy()
    negative = (1 - same).numpy()
    loss, grad = lossgen.get("circle").loss_grad(_cosines(E).detach().numpy(), positive, negative,
                                                 m=m, gamma=gamma, reduction="mean")
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    np.testing.assert_allclose(_back_to(E, _cosines, grad), E.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_circle_rows_without_a_positive_count_zero_as_in_pml():
    """Anchors of a label seen once have no positive: loss 0 and gradient 0 (PML drops them
    from its mean, AvgNonZeroReducer; lossgen's 'sum' over the counted rows is the same)."""
    E, _ = _embeddings(4)
    labels = torch.tensor(np.r_[np.repeat(np.arange(8), 4), [100, 101, 102, 103]])
    want = pml_losses.CircleLoss(m=0.25, gamma=64.0)(E, labels)
    want.backward()
    same = (labels[:, None] == labels[None, :]).double()
    positive = (same - torch.eye(N, dtype=torch.float64)).numpy()
    negative = (1 - same).numpy()
    L = lossgen.get("circle")
    rows, grad = L.loss_grad(_cosines(E).detach().numpy(), positive, negative, m=0.25, gamma=64.0, reduction="none")
    assert np.all(rows[-4:] == 0) and np.all(grad[-4:] == 0) and np.all(rows[:-4] > 0)
    counted = N - 4
    np.testing.assert_allclose(rows.sum() / counted, want.item(), rtol=1e-12)
    np.testing.assert_allclose(_back_to(E, _cosines, grad / counted), E.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_nt_xent_matches_pml(temperature):
    """NT-Xent on pairs (two views of each sample): PML's NTXentLoss with each sample's
    label shared by its two views is info_nce over the row without the sample itself."""
    E, _ = _embeddings(1)
    labels = torch.arange(N) % (N // 2)                    # views 2i and 2i + 1... as i, i + N/2
    want = pml_losses.NTXentLoss(temperature=temperature)(E, labels)
    want.backward()
    off = ~np.eye(N, dtype=bool)

    def rows(E):                                           # each row without its diagonal element
        return _cosines(E)[torch.tensor(off)].reshape(N, N - 1)

    partner = (np.arange(N) + N // 2) % N
    positive = np.where(partner > np.arange(N), partner - 1, partner)   # its column once the diagonal is out
    loss, grad = lossgen.get("info_nce").loss_grad(rows(E).detach().numpy(), positive,
                                                   temperature=temperature, reduction="mean")
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    np.testing.assert_allclose(_back_to(E, rows, grad), E.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, pml_class, margin, ours", [
    ("arcface", "ArcFaceLoss", 28.6, lambda m: {"m": float(np.radians(m))}),
    ("arcface", "ArcFaceLoss", 80.0, lambda m: {"m": float(np.radians(m))}),    # fallback past 100 degrees
    ("cosface", "CosFaceLoss", 0.35, lambda m: {"m": m}),
])
def test_margin_softmax_heads_match_pml(name, pml_class, margin, ours):
    """PML's ArcFace and CosFace: cross-entropy of s*cos(theta) with the target's margin,
    cos(theta) between the embeddings and the class weights W (its parameter)."""
    E, labels = _embeddings(2)
    crit = getattr(pml_losses, pml_class)(num_classes=CLASSES, embedding_size=D, margin=margin, scale=30.0)
    crit.W.data = torch.tensor(np.random.default_rng(3).normal(size=(D, CLASSES)))
    want = crit(E, labels)
    want.backward()
    W = crit.W.detach()

    def cosines(E):
        return F.normalize(E, dim=1) @ F.normalize(W, dim=0)

    loss, grad = lossgen.get(name).loss_grad(cosines(E).detach().numpy(), labels.numpy(), s=30.0,
                                             reduction="mean", **ours(margin))
    np.testing.assert_allclose(loss, want.item(), rtol=1e-11)
    np.testing.assert_allclose(_back_to(E, cosines, grad), E.grad.numpy(), rtol=1e-8, atol=1e-11)
