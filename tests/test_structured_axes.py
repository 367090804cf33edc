"""Structured losses with several named axes, and the catalog's VAE loss built on them:
reconstruction summed over 'feature' (F elements) plus beta times the Gaussian KL summed
over 'latent' (D elements), with F != D. Against the spec written out in mpmath, against
torch autograd, and the refusals (shapes at call time, specs at build time)."""
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossgen
from lossgen.catalog import spec_for
from lossgen.derive.reductions import row_program
from lossgen.errors import BuildError
from lossgen.spec import parse_spec_text
from lossgen.verify.structured_truth import row_truth, to_float

N, NF, ND = 3, 5, 2
EPS = np.finfo(float).eps


def _vae_inputs(rng, n=N, nf=NF, nd=ND, scale=3.0):
    z = rng.normal(scale=scale, size=(n, nf))
    x = rng.uniform(size=(n, nf))
    mu, logvar = rng.normal(size=(2, n, nd))
    return z, x, mu, logvar


def _torch_vae(Z, X, M, LV, beta):
    """pytorch/examples' VAE loss_function, on logits: BCE summed over features + beta * KL."""
    bce = F.binary_cross_entropy_with_logits(Z, X, reduction="none").sum(1)
    kl = -0.5 * (1 + LV - M ** 2 - LV.exp()).sum(1)
    return bce + beta * kl


@pytest.mark.parametrize("beta", [1.0, 4.0, 0.0])
def test_vae_against_the_spec_written_out(beta):
    rng = np.random.default_rng(3)
    z, x, mu, logvar = _vae_inputs(rng)
    z[0, 0], logvar[1, 1] = 30.0, -1e-9                   # a saturated logit; logvar near 0 (expm1)
    L = lossgen.get("vae")
    spec = spec_for("vae")
    arrays = {"recon_logits": z, "x": x, "mu": mu, "logvar": logvar}
    loss = L.loss(z, x, mu, logvar, beta=beta, reduction="none")
    grads = L.grad(z, x, mu, logvar, beta=beta, reduction="sum")
    for i in range(N):
        value, g, _ = row_truth(spec, arrays, i, {"beta": beta}, L.diff_names)
        assert abs(loss[i] - to_float(value)) <= 16 * EPS * abs(to_float(value))
        for name, got in zip(L.diff_names, grads):
            want = np.array([to_float(w) for w in g[name]])
            assert got[i].shape == want.shape
            np.testing.assert_allclose(got[i], want, rtol=16 * EPS, atol=1e-300, err_msg=f"d/d{name}, row {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_vae_matches_torch_autograd(dtype, reduction):
    rng = np.random.default_rng(4)
    z, x, mu, logvar = (a.astype(dtype) for a in _vae_inputs(rng, 64, 30, 7))
    loss, grads = lossgen.get("vae").loss_grad(z, x, mu, logvar, beta=2.5, reduction=reduction)
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (z, x, mu, logvar)]
    rows = _torch_vae(*ts, 2.5)
    want = {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]
    want.sum().backward()
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    assert np.asarray(loss).dtype == dtype
    np.testing.assert_allclose(loss, want.detach().numpy(), rtol=rtol)
    for g, t in zip(grads, (ts[0], ts[2], ts[3])):
        assert g.dtype == dtype and g.shape == tuple(t.shape)
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol, atol=1e-15 if dtype == np.float64 else 1e-6)


def test_vae_is_bce_of_the_sigmoid_and_stays_exact_where_it_saturates():
    """On moderate logits: torch's binary_cross_entropy(sigmoid(z), reduction='sum') over the
    features plus beta*KL; on |z| = 60 the sigmoid rounds to 1 and torch clamps log at -100,
    the logit form keeps the exact value."""
    rng = np.random.default_rng(5)
    z, x, mu, logvar = _vae_inputs(rng, 16, 12, 3, scale=2.0)
    Z, M, LV = (torch.tensor(a, requires_grad=True) for a in (z, mu, logvar))
    want = F.binary_cross_entropy(torch.sigmoid(Z), torch.tensor(x), reduction="sum") \
        - 0.5 * 0.5 * (1 + LV - M ** 2 - LV.exp()).sum()
    want.backward()
    loss, (gz, gmu, glv) = lossgen.get("vae").loss_grad(z, x, mu, logvar, beta=0.5, reduction="sum")
    np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    for g, t in zip((gz, gmu, glv), (Z, M, LV)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-9, atol=1e-15)
    zero = np.zeros((1, 1))
    big = lossgen.get("vae").loss(np.array([[-60.0]]), np.ones((1, 1)), zero, zero, reduction="sum")
    assert big == 60.0 + np.log1p(np.exp(-60.0))                # softplus(60), not the clamped 100


def test_bad_shapes_name_the_argument_the_axis_and_the_lengths():
    vae = lossgen.get("vae")
    z, x, mu, logvar = _vae_inputs(np.random.default_rng(6), 4, 5, 3)
    with pytest.raises(ValueError, match=r"'logvar' has shape \(4, 2\); expected \(4, 3\): 2 'latent' elements "
                                         r"per row, but 'mu' has 3"):
        vae.loss(z, x, mu, logvar[:, :2])
    with pytest.raises(ValueError, match=r"'x' has shape \(4, 3\); expected \(4, 5\): 3 'feature' elements per "
                                         r"row, but 'recon_logits' has 5"):
        vae.loss(z, x[:, :3], mu, logvar)
    with pytest.raises(ValueError, match=r"'mu' has shape \(2, 3\); expected \(4, 3\): 2 rows, but "
                                         r"'recon_logits' has 4"):
        vae.loss(z, x, mu[:2], logvar)
    with pytest.raises(ValueError, match=r"'recon_logits' has shape \(5,\); expected \(n, K\): one row of K "
                                         r"'feature' elements"):
        vae.loss(z[0], x, mu, logvar)
    # the feature and latent lengths are independent: any pair is accepted
    assert vae.loss(z[:, :1], x[:, :1], mu, logvar, reduction="none").shape == (4,)


SPEC = textwrap.dedent('''
    name = "two_axes"
    category = "generative"
    loss = "LOSS"
    [[inputs]]
    name = "a"
    axes = ["feature"]
    [[inputs]]
    name = "b"
    role = "auxiliary"
    differentiable = true
    axes = ["latent"]
''')


@pytest.mark.parametrize("loss,message", [
    ('sum_over(a*b, \\"latent\\")', r"a reduction over 'latent' reads 'a' \(axis 'feature'\)"),
    ('sum_over(a, \\"feature\\") + b', r"input\(s\) b have an axis and appear outside a reduction"),
    ('sum_over(a, \\"feature\\") + sum_over(a, \\"set\\")', r"a set reduction over inputs with an axis \(feature, latent\)"),
])
def test_specs_that_mix_axes_are_refused_at_build_time(loss, message):
    spec = parse_spec_text(SPEC.replace("LOSS", loss), "two_axes.toml")
    with pytest.raises(BuildError, match=message):
        row_program(spec)


def test_a_reduction_over_one_axis_may_hold_a_reduction_over_another(tmp_path):
    """logsumexp over 'feature' of a - mean over 'latent' of b: the inner mean is a row value
    inside the feature pass; its adjoint comes from the feature pass, its gradient from the latent one."""
    text = SPEC.replace("LOSS", 'logsumexp_over(a*mean_over(b, \\"latent\\"), \\"feature\\")')
    prog = row_program(parse_spec_text(text, "two_axes.toml"))
    assert prog.axes == ("feature", "latent") and prog.depth == 2
    (tmp_path / "two_axes.toml").write_text(text)
    loss = lossgen.compile(tmp_path / "two_axes.toml")
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    value, (ga, gb) = loss.loss_grad(a, b, reduction="sum")
    A, B = (torch.tensor(v, requires_grad=True) for v in (a, b))
    want = torch.logsumexp(A * B.mean(1, keepdim=True), 1).sum()
    want.backward()
    np.testing.assert_allclose(value, want.item(), rtol=1e-13)
    np.testing.assert_allclose(ga, A.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gb, B.grad.numpy(), rtol=1e-12, atol=1e-15)
