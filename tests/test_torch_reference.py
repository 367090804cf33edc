"""Values and gradients against torch (CPU, float64).

Every catalog loss whose spec names a ``torch`` counterpart is compared with that
``torch.nn.functional`` function (discovered from the specs), plus focal
(torchvision's sigmoid_focal_loss formula), vae_kl (torch.distributions'
Normal-Normal KL divergence) and dpo (TRL's sigmoid loss), written in torch ops here.

Losses: reduction none/sum/mean, rtol 1e-12.  Gradients: torch autograd of the
reduced loss (sum and mean) against lossgen's ``grad`` with the same reduction,
rtol 1e-12, atol 1e-15.  Inputs come from each input's domain, kept away from the
clamps where the spec notes document a deliberate difference from torch.
"""
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

import lossgen
from lossgen.catalog import spec_for

torch = pytest.importorskip("torch")
F = torch.nn.functional

N = 257
RTOL = 1e-12
ATOL = 1e-15


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------

def _domain_sample(domain, rng, n):
    """Generic draws from a spec domain (lossgen/spec/model.py DOMAINS)."""
    if domain.values is not None:
        return rng.choice(np.array(domain.values, dtype=np.float64), n)
    name = domain.name
    if name == "real":
        return rng.standard_normal(n) * 2.0
    if name == "positive":
        return rng.uniform(0.05, 4.0, n)
    if name == "nonnegative":
        return rng.uniform(0.0, 4.0, n)
    if name == "nonpositive":
        return -rng.uniform(0.0, 4.0, n)
    if name == "unit_interval":
        return rng.uniform(0.0, 1.0, n)
    if name == "open_unit_interval":
        return rng.uniform(0.01, 0.99, n)
    raise KeyError(f"no sampler for domain {name}")


def _soft_or_hard_labels(rng, n):
    """Half hard 0/1 labels, half soft labels in [0, 1]."""
    y = rng.uniform(0.0, 1.0, n)
    hard = rng.random(n) < 0.5
    y[hard] = np.round(y[hard])
    return y


def _spec_inputs(name, rng, n):
    spec = spec_for(name)
    return {i.name: _domain_sample(i.domain, rng, n) for i in spec.inputs}


# Per-loss draws where the generic domain draw would hit a documented difference.
def _bce_inputs(rng, n):
    # bce.toml notes: torch clamps each log at -100 and its backward divides by
    # max(pred*(1 - pred), 1e-12); both agree with lossgen only away from pred = 0, 1.
    return {"pred": rng.uniform(0.01, 0.99, n), "target": _soft_or_hard_labels(rng, n)}


def _bce_with_logits_inputs(rng, n):
    # torch evaluates (1 - target)*x + (log1p(exp(-|x|)) + max(-x, 0)), which cancels for
    # target = 0 and x << 0 (at x = -11.5 its relative error is 7e-11; lossgen's
    # softplus(x) is exact there): |pred| <= 4 keeps torch within 1e-13.
    return {"pred": rng.uniform(-4.0, 4.0, n), "target": _soft_or_hard_labels(rng, n)}


def _gaussian_nll_inputs(rng, n):
    # gaussian_nll.toml notes: below eps the variance is clamped, and torch's gradient
    # differs there (it clamps under no_grad); keep var > 1e-3, far above eps.
    return {"pred": rng.standard_normal(n), "target": rng.standard_normal(n),
            "var": np.exp(rng.uniform(np.log(2e-3), np.log(5.0), n))}


def _poisson_nll_inputs(rng, n):
    # counts (0 and 1 included: the Stirling term is masked to 0 for target <= 1)
    return {"pred": rng.normal(0.5, 1.0, n), "target": rng.poisson(3.0, n).astype(np.float64)}


def _focal_inputs(rng, n):
    # torchvision forms 1 - p_t by subtraction, which cancels for confident predictions
    # (lossgen evaluates it exactly, see focal.toml notes): |pred| <= 3 keeps
    # 1 - p_t >= 0.047, where torch's own rounding stays far below 1e-12.
    return {"pred": rng.uniform(-3.0, 3.0, n), "target": _soft_or_hard_labels(rng, n)}


def _vae_kl_inputs(rng, n):
    # torch.distributions evaluates var_ratio - 1 - log(var_ratio), which cancels as
    # logvar -> 0 (lossgen uses expm1(logvar) - logvar, see vae_kl.toml notes): keep
    # 0.3 <= |logvar| <= 2.5, where torch's rounding stays below 1e-13 relative.
    logvar = rng.uniform(0.3, 2.5, n) * rng.choice([-1.0, 1.0], n)
    return {"mu": rng.standard_normal(n), "logvar": logvar}


def _dpo_inputs(rng, n):
    # sequence log-probabilities: large negative numbers whose differences matter
    return {k: rng.normal(-40.0, 5.0, n) for k in
            ("policy_chosen_logp", "policy_rejected_logp", "ref_chosen_logp", "ref_rejected_logp")}


# ---------------------------------------------------------------------------------------
# torch counterparts
# ---------------------------------------------------------------------------------------

def _functional(fn_name, kwargs_map=None):
    """A torch.nn.functional loss taking the inputs positionally in spec order."""
    fn = getattr(F, fn_name)

    def call(tensors, params, reduction):
        kw = kwargs_map(params) if kwargs_map else dict(params)
        return fn(*tensors, reduction=reduction, **kw)
    return call


def _reduce(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _torch_focal(tensors, params, reduction):
    """torchvision.ops.sigmoid_focal_loss, verbatim in torch ops."""
    inputs, targets = tensors
    alpha, gamma = params["alpha"], params["gamma"]
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _reduce(loss, reduction)


def _torch_vae_kl(tensors, params, reduction):
    mu, logvar = tensors
    Normal = torch.distributions.Normal
    std = torch.exp(0.5 * logvar)
    kl = torch.distributions.kl_divergence(Normal(mu, std), Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    return _reduce(params["beta"] * kl, reduction)


def _torch_dpo(tensors, params, reduction):
    pc, pr, rc, rr = tensors
    beta, ls = params["beta"], params["label_smoothing"]
    logits = (pc - rc) - (pr - rr)
    loss = -(1 - ls) * F.logsigmoid(beta * logits) - ls * F.logsigmoid(-beta * logits)
    return _reduce(loss, reduction)


# lossgen parameter names -> torch keyword arguments
def _huber_kw(p):
    return {"delta": p["delta"]}


def _smooth_l1_kw(p):
    return {"beta": p["beta"]}


def _poisson_nll_kw(p):
    return {"log_input": True, "full": bool(p["full"])}


def _gaussian_nll_kw(p):
    return {"full": bool(p["full"]), "eps": p["eps"]}


def _margin_ranking_kw(p):
    return {"margin": p["margin"]}


def _bce_with_logits_kw(p):
    return {"pos_weight": torch.tensor(p["pos_weight"], dtype=torch.float64)}


@dataclass
class Case:
    inputs: Callable | None = None           # rng, n -> {name: array}; None: by domain
    params: list = field(default_factory=lambda: [{}])   # lossgen keyword sets
    torch_kwargs: Callable | None = None     # lossgen params -> torch kwargs
    torch_fn: Callable | None = None         # for losses without a spec torch key


# Everything a loss with a spec `torch` key needs beyond the generic defaults.
TORCH_KEYED = {
    "bce": Case(inputs=_bce_inputs),
    "bce_with_logits": Case(inputs=_bce_with_logits_inputs, params=[{}, {"pos_weight": 2.5}],
                            torch_kwargs=_bce_with_logits_kw),
    "gaussian_nll": Case(inputs=_gaussian_nll_inputs,
                         params=[{}, {"full": 1, "eps": 1e-4}], torch_kwargs=_gaussian_nll_kw),
    "huber": Case(params=[{}, {"delta": 0.7}, {"delta": 2.5}], torch_kwargs=_huber_kw),
    "poisson_nll": Case(inputs=_poisson_nll_inputs, params=[{"full": 0}, {"full": 1}],
                        torch_kwargs=_poisson_nll_kw),
    "smooth_l1": Case(params=[{}, {"beta": 0.4}, {"beta": 3.0}], torch_kwargs=_smooth_l1_kw),
    "margin_ranking": Case(params=[{}, {"margin": 0.5}, {"margin": 2.0}], torch_kwargs=_margin_ranking_kw),
}

# Losses without a spec `torch` key, against formulas written in torch ops.
EXTRA = {
    "focal": Case(inputs=_focal_inputs, torch_fn=_torch_focal,
                  params=[{}, {"alpha": 0.6, "gamma": 0.5}, {"alpha": 0.0, "gamma": 0.0}]),
    "vae_kl": Case(inputs=_vae_kl_inputs, torch_fn=_torch_vae_kl, params=[{}, {"beta": 4.0}]),
    "dpo": Case(inputs=_dpo_inputs, torch_fn=_torch_dpo,
                params=[{}, {"beta": 0.5, "label_smoothing": 0.2}]),
}

# at least these specs carry a torch key; a key dropped by mistake must not silently
# shrink this suite
EXPECTED_TORCH_KEYED = {"bce", "bce_with_logits", "diffusion_mse", "gaussian_nll", "huber",
                        "logistic", "mae", "margin_ranking", "mse", "poisson_nll", "smooth_l1"}


def _torch_keyed():
    # from the parsed specs (not the generated modules), so that collection works even
    # when generated/ is stale; each test then loads its module with lossgen.get
    return sorted(n for n in lossgen.catalog() if spec_for(n).torch)


def _cases():
    out = []
    for name in _torch_keyed():
        case = TORCH_KEYED.get(name, Case())
        case = Case(inputs=case.inputs, params=case.params, torch_kwargs=case.torch_kwargs,
                    torch_fn=_functional(spec_for(name).torch, case.torch_kwargs))
        out.append((name, case))
    out += sorted(EXTRA.items())
    return [pytest.param(name, case, k, id=f"{name}-{k}")
            for name, case in out for k in range(len(case.params))]


def test_torch_keys_are_discovered():
    keyed = set(_torch_keyed())
    assert EXPECTED_TORCH_KEYED <= keyed, EXPECTED_TORCH_KEYED - keyed
    for name in keyed:
        fn = lossgen.get(name).spec.torch
        assert fn == spec_for(name).torch
        assert hasattr(F, fn), f"{name}: torch.nn.functional has no {fn}"
    assert lossgen.get("logistic").spec.torch == "soft_margin_loss"
    assert not set(EXTRA) & keyed


# ---------------------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------------------

def _draw(name, case, seed):
    rng = np.random.default_rng(seed)
    L = lossgen.get(name)
    values = case.inputs(rng, N) if case.inputs else _spec_inputs(name, rng, N)
    return [np.ascontiguousarray(values[n], dtype=np.float64) for n in L.input_names]


def _tensors(name, arrays, requires_grad):
    L = lossgen.get(name)
    return [torch.tensor(a, dtype=torch.float64, requires_grad=(requires_grad and n in L.diff_names))
            for n, a in zip(L.input_names, arrays)]


@pytest.mark.parametrize("name,case,k", _cases())
def test_loss_matches_torch(name, case, k):
    L = lossgen.get(name)
    params = case.params[k]
    full_params = {n: params.get(n, default) for n, default in L.params}
    arrays = _draw(name, case, seed=1000 + k)
    for reduction in ("none", "sum", "mean"):
        with torch.no_grad():
            ref = case.torch_fn(_tensors(name, arrays, False), full_params, reduction).numpy()
        ours = L.loss(*arrays, reduction=reduction, **params)
        assert np.shape(ours) == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL, err_msg=f"{name} loss {reduction}")


@pytest.mark.parametrize("name,case,k", _cases())
def test_grad_matches_torch_autograd(name, case, k):
    L = lossgen.get(name)
    if not L.diff_names:
        pytest.skip(f"{name} is not differentiable")
    params = case.params[k]
    full_params = {n: params.get(n, default) for n, default in L.params}
    arrays = _draw(name, case, seed=2000 + k)
    for reduction in ("sum", "mean"):
        tensors = _tensors(name, arrays, True)
        loss = case.torch_fn(tensors, full_params, reduction)
        loss.backward()
        refs = {n: t.grad.numpy() for n, t in zip(L.input_names, tensors) if t.requires_grad}
        ours = L.grad(*arrays, reduction=reduction, **params)
        ours = ours if isinstance(ours, tuple) else (ours,)
        assert len(ours) == len(L.diff_names) == len(refs)
        for n, g in zip(L.diff_names, ours):
            np.testing.assert_allclose(g, refs[n], rtol=RTOL, atol=ATOL,
                                       err_msg=f"{name} d/d{n} {reduction}")
        # the fused kernel gives the same gradient
        _, fused = L.loss_grad(*arrays, reduction=reduction, **params)
        fused = fused if isinstance(fused, tuple) else (fused,)
        for n, g in zip(L.diff_names, fused):
            np.testing.assert_allclose(g, refs[n], rtol=RTOL, atol=ATOL,
                                       err_msg=f"{name} loss_grad d/d{n} {reduction}")
