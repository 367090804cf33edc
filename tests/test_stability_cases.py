"""Cases from the bug trackers of established libraries: log-cosh overflowing at large
residuals, BCE-with-logits NaN at -inf, focal-loss gradients NaN at saturated logits,
a logistic gradient NaN at margin -1000, Poisson NLL at extreme log-rates.  Each value
and gradient is compared with mpmath (adaptive precision) in ulps."""
import re
import math

import numpy as np
import pytest

import lossgen
from lossgen.verify.truth import exact_derivative, mp_function, spec_args
from ulp import ulp_error

LOSS_ULP, GRAD_ULP, HESS_ULP = 8, 8, 16


def _check(name, cols, **params):
    L = lossgen.get(name)
    spec = L.spec
    args = spec_args(spec)
    kw = {p.name: params.get(p.name, p.default) for p in spec.params}
    pvals = [kw[p.name] for p in spec.params]
    cols = [np.asarray(c, dtype=np.float64) for c in cols]
    values = L.loss(*cols, reduction="none", **kw)
    x = spec.differentiable_inputs[0].symbol
    g = L.grad(*cols, reduction="none", **kw)
    h = L.hess(*cols, reduction="none", **kw)
    g = g[0] if isinstance(g, tuple) else g
    h = h[0] if isinstance(h, tuple) else h
    truths = [(values, mp_function(spec.loss, args), LOSS_ULP, "loss"),
              (g, mp_function(exact_derivative(spec, x), args), GRAD_ULP, "grad"),
              (h, mp_function(exact_derivative(spec, x, x), args), HESS_ULP, "hess")]
    for out, truth, budget, label in truths:
        for j in range(len(cols[0])):
            point = [float(c[j]) for c in cols] + pvals
            t = truth(*point)
            if abs(t) > 1.7976931348623157e308:
                continue
            assert math.isfinite(out[j]), f"{name} {label} non-finite at {point}: {out[j]} (truth {t})"
            assert ulp_error(float(out[j]), t) <= budget, f"{name} {label} at {point}: {out[j]} vs {float(t)}"


def test_log_cosh_at_large_residuals():
    r = np.array([100.0, 1e4, 1e300, -100.0, -1e4, -1e300])
    _check("log_cosh", [r, np.zeros_like(r)])


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_bce_with_logits_at_saturated_logits(target):
    x = np.array([1000.0, -1000.0, 1e300, -1e300])
    _check("bce_with_logits", [x, np.full_like(x, target)])
    _check("bce_with_logits", [x, np.full_like(x, target)], pos_weight=3.0)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("target", [0.0, 1.0])
def test_focal_at_saturated_logits(gamma, target):
    x = np.array([1000.0, -1000.0, 40.0, -40.0])
    _check("focal", [x, np.full_like(x, target)], gamma=gamma)


def test_logistic_gradient_at_margin_minus_1000():
    _check("logistic", [np.array([-1000.0, 1000.0, 1000.0]), np.array([1.0, -1.0, 1.0])])


def test_poisson_nll_at_extreme_log_rates():
    x = np.array([700.0, -700.0, 700.0, -700.0])
    _check("poisson_nll", [x, np.array([0.0, 0.0, 3.0, 3.0])])
    _check("poisson_nll", [x, np.array([0.0, 0.0, 3.0, 3.0])], full=1.0)


def test_naive_user_spec_is_lowered_to_stable_kernels(tmp_path):
    """A user writes log(1 + exp(r)) and log(cosh(r)): the kernels are accurate at
    residual ±1000 all the same, and `lossgen show` names the stable form chosen."""
    import subprocess
    import sys
    for stem, expr, stable in (("naive_softplus", "log(1 + exp(pred - target))", "softplus(pred - target)"),
                               ("naive_logcosh", "log(cosh(pred - target))", "logcosh(pred - target)")):
        path = tmp_path / f"{stem}.toml"
        path.write_text(f'name = "{stem}"\ncategory = "regression"\nloss = "{expr}"\n'
                        '[[inputs]]\nname = "pred"\n[[inputs]]\nname = "target"\nrole = "target"\n')
        L = lossgen.compile(path)
        spec = L.spec
        args = spec_args(spec)
        r = np.array([1000.0, -1000.0, 30.0, -30.0, 1e-8])
        y = np.zeros_like(r)
        loss, grad = L.loss_grad(r, y, reduction="none")
        lt = mp_function(spec.loss, args)
        gt = mp_function(exact_derivative(spec, args[0]), args)
        for j in range(len(r)):
            assert ulp_error(float(loss[j]), lt(r[j], 0.0)) <= LOSS_ULP, (stem, r[j], loss[j])
            assert ulp_error(float(grad[j]), gt(r[j], 0.0)) <= GRAD_ULP, (stem, r[j], grad[j])
        shown = subprocess.run([sys.executable, "-m", "lossgen.cli", "show", str(path)],
                               capture_output=True, text=True, check=True).stdout
        # the stable primitive, evaluated in double precision or in double-double
        # ("Compensated": the residual pred - target carried exactly)
        assert re.search(rf"loss {{9}}= (Compensated\()?{re.escape(stable)}", shown), shown


def test_gradients_where_prediction_and_target_cancel():
    """The gradient where the prediction all but equals the target: bce_with_logits'
    sigmoid(x) - t with t the double nearest sigmoid(x) or a few ulps from it (the
    difference is then sigmoid's own rounding, so a kernel that takes sigmoid as a
    double is wrong in every digit), focal's at the same points, poisson_nll's
    e^x - t with t the double nearest e^x.  Within budget of mpmath, relatively."""
    import mpmath
    rng = np.random.default_rng(11)
    x = rng.normal(scale=4.0, size=24)
    with mpmath.workdps(60):
        sig = np.array([float(1 / (1 + mpmath.exp(-mpmath.mpf(float(v))))) for v in x])
        ex = np.array([float(mpmath.exp(mpmath.mpf(float(v)))) for v in x])
    steps = np.resize([0.0, 1.0, -3.0], x.size)
    t = sig + steps * np.spacing(sig)
    keep = (t > 0) & (t < 1)
    _check("bce_with_logits", [x[keep], t[keep]])
    _check("focal", [x[keep], t[keep]])
    _check("poisson_nll", [x, ex + steps * np.spacing(ex)])
