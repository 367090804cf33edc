"""Composition: a spec calls another catalog loss by name inside its expression; the
callee's expression is inlined (its inputs, then optionally its parameters, positional),
and derivation and kernels follow."""
import textwrap

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lossgen
from lossgen.errors import SpecError
from lossgen.spec import parse_spec_text

VAE = textwrap.dedent('''
    name = "vae_elbo"
    category = "generative"
    loss = "bce(recon, x) + beta*vae_kl(mu, logvar)"
    [[inputs]]
    name = "recon"
    domain = "open_unit_interval"
    [[inputs]]
    name = "x"
    role = "target"
    domain = "unit_interval"
    [[inputs]]
    name = "mu"
    role = "auxiliary"
    differentiable = true
    [[inputs]]
    name = "logvar"
    role = "auxiliary"
    differentiable = true
    [[params]]
    name = "beta"
    default = 0.5
    constraint = "beta >= 0"
''')

SMOOTHED = textwrap.dedent('''
    name = "smoothed_ce"
    category = "classification"
    loss = "softmax_cross_entropy(logits, target, weight, 0.1)"
    [[inputs]]
    name = "logits"
    axes = ["class"]
    [[inputs]]
    name = "target"
    role = "target"
    [[inputs]]
    name = "weight"
    role = "weight"
    domain = "nonnegative"
    axes = ["class"]
''')


def test_vae_loss_is_bce_plus_beta_kl(tmp_path):
    path = tmp_path / "vae_elbo.toml"
    path.write_text(VAE)
    vae = lossgen.compile(path)
    rng = np.random.default_rng(0)
    recon, x = rng.uniform(0.01, 0.99, (2, 500))
    mu, logvar = rng.normal(size=(2, 500))
    loss, (g_recon, g_mu, g_logvar) = vae.loss_grad(recon, x, mu, logvar, beta=0.5, reduction="sum")
    ts = [torch.tensor(a, requires_grad=True) for a in (recon, mu, logvar)]
    want = F.binary_cross_entropy(ts[0], torch.tensor(x), reduction="sum") \
        + 0.5 * (0.5 * (ts[1] ** 2 + torch.exp(ts[2]) - 1 - ts[2])).sum()
    want.backward()
    np.testing.assert_allclose(loss, want.item(), rtol=1e-13)
    for g, t in zip((g_recon, g_mu, g_logvar), ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_a_structured_loss_composes_a_structured_catalog_loss(tmp_path):
    path = tmp_path / "smoothed_ce.toml"
    path.write_text(SMOOTHED)
    ce = lossgen.compile(path)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6))
    t = rng.integers(0, 6, 40)
    loss, grad = ce.loss_grad(x, t, reduction="sum")
    X = torch.tensor(x, requires_grad=True)
    want = F.cross_entropy(X, torch.tensor(t), label_smoothing=0.1, reduction="sum")
    want.backward()
    np.testing.assert_allclose(loss, want.item(), rtol=1e-13)
    np.testing.assert_allclose(grad, X.grad.numpy(), rtol=1e-12, atol=1e-16)


def test_composition_errors_are_spec_errors_with_positions(tmp_path, monkeypatch):
    bad = VAE.replace("vae_kl(mu, logvar)", "vae_kl(mu)")
    with pytest.raises(SpecError, match="takes its inputs \\(mu, logvar\\)") as exc:
        parse_spec_text(bad, "bad.toml")
    assert exc.value.key == "loss" and exc.value.column is not None
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "loop_a.toml").write_text(VAE.replace('name = "vae_elbo"', 'name = "loop_a"')
                                       .replace("bce(recon, x)", "loop_b(recon, x, mu, logvar)"))
    (specs / "loop_b.toml").write_text(VAE.replace('name = "vae_elbo"', 'name = "loop_b"')
                                       .replace("bce(recon, x)", "loop_a(recon, x, mu, logvar)"))
    monkeypatch.setenv("LOSSGEN_SPECS_DIR", str(specs))
    from lossgen.spec import load_spec
    with pytest.raises(SpecError, match="calls itself"):
        load_spec(specs / "loop_a.toml")
