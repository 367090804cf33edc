"""``lossgen.torch.Loss``: the nn.Module against torch itself.

* Huber equals ``torch.nn.functional.huber_loss`` (loss and gradient, every reduction,
  float64 and float32) to 1e-12.
* ``gradcheck`` and ``gradgradcheck`` (finite differences) pass for one- and
  two-input losses, with weights and every reduction; the double backward equals the
  Hessian torch's autograd computes from torch's own formula of the loss (cross terms
  included).
* A robust-regression training run: Huber recovers the coefficients despite 10 % gross
  outliers, MSE does not (and MSE lands on the least-squares solution torch.linalg.lstsq
  gives, so the training loop itself is right).
* Bad input is refused with a message naming the argument.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
lt = pytest.importorskip("lossgen.torch")

from lossgen.errors import NotDifferentiableError
from lossgen.integrations.torch_autograd import _numpy_view

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---- equality with torch.nn.functional.huber_loss ---------------------------------------------

@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("delta", [1.0, 0.35])
def test_huber_equals_torch_huber_loss(dtype, tol, reduction, delta):
    g = _gen(1)
    x = (3 * torch.randn(4000, generator=g, dtype=F64)).to(dtype).requires_grad_()
    y = torch.randn(4000, generator=g, dtype=F64).to(dtype)
    mine = lt.Loss("huber", delta=delta, reduction=reduction)(x, y)
    ref = F.huber_loss(x, y, delta=delta, reduction=reduction)
    assert mine.dtype == dtype and mine.shape == ref.shape
    torch.testing.assert_close(mine, ref, rtol=tol, atol=tol)
    upstream = torch.rand(ref.shape, generator=g, dtype=F64).to(dtype) + 0.5
    (g_mine,) = torch.autograd.grad(mine, x, upstream)
    (g_ref,) = torch.autograd.grad(ref, x, upstream)
    torch.testing.assert_close(g_mine, g_ref, rtol=tol, atol=tol)


def test_default_reduction_is_mean_and_2d_noncontiguous_inputs_work():
    g = _gen(2)
    x = torch.randn(30, 20, generator=g, dtype=F64).t().requires_grad_()      # a transposed view
    y = torch.randn(20, 30, generator=g, dtype=F64)
    mine = lt.Loss("huber")(x, y)
    ref = F.huber_loss(x, y)
    torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.autograd.grad(mine, x)[0], torch.autograd.grad(ref, x)[0],
                               rtol=1e-12, atol=1e-12)


def test_cpu_tensors_reach_the_kernels_without_a_copy():
    t = torch.randn(100, dtype=F64, requires_grad=True)
    view = _numpy_view(t)
    assert view.ctypes.data == t.data_ptr()
    view[0] = 12.5                         # same memory
    assert t[0].item() == 12.5


def test_module_deep_copies_and_pickles():
    import copy
    import pickle
    model = torch.nn.Sequential(torch.nn.Linear(3, 1, dtype=F64), torch.nn.Flatten(0))
    crit = lt.Loss("huber", delta=0.4, reduction="sum")
    x, y = torch.randn(8, 3, dtype=F64), torch.randn(8, dtype=F64)
    for other in (copy.deepcopy(crit), pickle.loads(pickle.dumps(crit))):
        assert other.params == {"delta": 0.4} and other.reduction == "sum"
        torch.testing.assert_close(other(model(x), y), F.huber_loss(model(x), y, delta=0.4, reduction="sum"),
                                   rtol=1e-12, atol=0)


# ---- derivatives: gradcheck, gradgradcheck, Hessians against torch's autograd -------------------

def _away_from_kinks(x, y, delta):
    r = (x - y).abs()
    return (r - delta).abs().min().item() > 1e-3 and r.min().item() > 1e-3


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_and_gradgradcheck_one_input(reduction):
    g = _gen(3)
    x = (2 * torch.randn(25, generator=g, dtype=F64))
    y = torch.randn(25, generator=g, dtype=F64)
    assert _away_from_kinks(x, y, 0.8)
    w = torch.rand(25, generator=g, dtype=F64) + 0.1
    for name, params, target in [("huber", {"delta": 0.8}, y),
                                 ("bce_with_logits", {"pos_weight": 1.7}, torch.rand(25, generator=g, dtype=F64)),
                                 ("log_cosh", {}, y)]:
        crit = lt.Loss(name, reduction=reduction, **params)
        xg = x.clone().requires_grad_()
        def fn(a, crit=crit, target=target):
            return crit(a, target, weight=w)

        assert torch.autograd.gradcheck(fn, (xg,))
        assert torch.autograd.gradgradcheck(fn, (xg,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_and_gradgradcheck_two_differentiable_inputs(reduction):
    g = _gen(4)
    mu = torch.randn(9, generator=g, dtype=F64, requires_grad=True)
    y = torch.randn(9, generator=g, dtype=F64)
    var = (torch.rand(9, generator=g, dtype=F64) + 0.5).requires_grad_()
    nll = lt.Loss("gaussian_nll", reduction=reduction)
    assert torch.autograd.gradcheck(lambda a, v: nll(a, y, v), (mu, var))
    assert torch.autograd.gradgradcheck(lambda a, v: nll(a, y, v), (mu, var))
    chosen, rejected = (torch.randn(9, generator=g, dtype=F64, requires_grad=True) for _ in range(2))
    refs = [torch.randn(9, generator=g, dtype=F64) for _ in range(2)]
    dpo = lt.Loss("dpo", beta=0.7, label_smoothing=0.1, reduction=reduction)
    assert torch.autograd.gradcheck(lambda c, r: dpo(c, r, *refs), (chosen, rejected))
    assert torch.autograd.gradgradcheck(lambda c, r: dpo(c, r, *refs), (chosen, rejected))


def test_double_backward_equals_torch_hessian_with_cross_terms():
    """torch.autograd.functional.hessian of lossgen's module against the same of the loss
    written in torch ops (DPO, TRL's sigmoid loss; BCE with logits from torch.nn.functional)."""
    g = _gen(5)
    n = 6
    chosen, rejected, ref_c, ref_r = (torch.randn(n, generator=g, dtype=F64) for _ in range(4))
    beta, ls = 0.7, 0.1
    dpo = lt.Loss("dpo", beta=beta, label_smoothing=ls, reduction="sum")

    def torch_dpo(c, r):
        h = (c - ref_c) - (r - ref_r)
        return ((1 - ls) * F.softplus(-beta * h) + ls * F.softplus(beta * h)).sum()

    h_mine = torch.autograd.functional.hessian(lambda c, r: dpo(c, r, ref_c, ref_r), (chosen, rejected))
    h_ref = torch.autograd.functional.hessian(torch_dpo, (chosen, rejected))
    for a in range(2):
        for b in range(2):
            torch.testing.assert_close(h_mine[a][b], h_ref[a][b], rtol=1e-12, atol=1e-15)
    assert h_ref[0][1].abs().max() > 1e-3               # the cross terms are not trivially zero

    x = 3 * torch.randn(n, generator=g, dtype=F64)
    y = torch.rand(n, generator=g, dtype=F64)
    w = torch.rand(n, generator=g, dtype=F64)
    bce = lt.Loss("bce_with_logits", reduction="mean")
    h_mine = torch.autograd.functional.hessian(lambda a: bce(a, y, weight=w), x)
    h_ref = torch.autograd.functional.hessian(
        lambda a: F.binary_cross_entropy_with_logits(a, y, weight=w, reduction="mean"), x)
    torch.testing.assert_close(h_mine, h_ref, rtol=1e-12, atol=1e-15)


# ---- training: robust regression --------------------------------------------------------------

def _fit(criterion, X, y):
    w = torch.zeros(X.shape[1], dtype=F64, requires_grad=True)
    b = torch.zeros((), dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = criterion(X @ w + b, y)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.cat([w.detach(), b.detach().reshape(1)])


def test_huber_regression_recovers_coefficients_under_gross_outliers_mse_does_not():
    g = _gen(6)
    n, coef = 500, torch.tensor([2.0, -1.0, 0.5, 1.0], dtype=F64)          # three slopes, intercept
    X = torch.randn(n, 3, generator=g, dtype=F64)
    y = X @ coef[:3] + coef[3] + 0.1 * torch.randn(n, generator=g, dtype=F64)
    bad = torch.randperm(n, generator=g)[: n // 10]                       # 10 % gross outliers
    y[bad] += 30.0 + 30.0 * torch.rand(len(bad), generator=g, dtype=F64)

    huber = _fit(lt.Loss("huber", delta=0.2), X, y)
    mse = _fit(lt.Loss("mse"), X, y)
    lstsq = torch.linalg.lstsq(torch.cat([X, torch.ones(n, 1, dtype=F64)], 1), y[:, None]).solution[:, 0]
    torch.testing.assert_close(mse, lstsq, rtol=1e-6, atol=1e-6)   # the loop optimises what it should
    assert (huber - coef).abs().max() < 0.1, huber
    assert (mse - coef).abs().max() > 2.0, mse


# ---- refusals --------------------------------------------------------------------------------

def test_bad_input_is_refused_naming_the_argument():
    x = torch.randn(5, dtype=F64, requires_grad=True)
    y = torch.randn(5, dtype=F64)
    crit = lt.Loss("huber")
    with pytest.raises(ValueError, match=r"'target' has shape \(4,\); expected \(5,\)"):
        crit(x, torch.randn(4, dtype=F64))
    with pytest.raises(TypeError, match=r"'target' has dtype torch.float32; expected torch.float64"):
        crit(x, y.float())
    with pytest.raises(ValueError, match=r"'target' requires grad.*only in pred"):
        crit(x, y.clone().requires_grad_())
    with pytest.raises(ValueError, match=r"'weight' requires grad"):
        crit(x, y, weight=torch.ones(5, dtype=F64, requires_grad=True))
    with pytest.raises(ValueError, match=r"'weight' has shape \(2,\)"):
        crit(x, y, weight=torch.ones(2, dtype=F64))
    with pytest.raises(TypeError, match=r"'pred' has dtype torch.int64"):
        crit(torch.arange(5), y)
    with pytest.raises(TypeError, match=r"'target' must be a torch.Tensor, got ndarray"):
        crit(x, np.zeros(5))
    with pytest.raises(ValueError, match=r"'pred' is on device meta"):
        crit(torch.empty(5, dtype=F64, device="meta"), torch.empty(5, dtype=F64, device="meta"))
    with pytest.raises(ValueError, match=r"'target' is on device meta; expected cpu"):
        crit(x, torch.empty(5, dtype=F64, device="meta"))
    with pytest.raises(TypeError, match=r"missing input array 'target'"):
        crit(x)
    with pytest.raises(TypeError, match=r"unexpected keyword.*delta"):
        crit(x, y, delta=2.0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) gamma"):
        lt.Loss("huber", gamma=2.0)
    with pytest.raises(ValueError, match=r"delta=-1.0 violates the constraint delta > 0"):
        lt.Loss("huber", delta=-1.0)
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        lt.Loss("huber", reduction="avg")
    with pytest.raises(NotDifferentiableError, match=r"'pred' requires grad"):
        lt.Loss("zero_one")(x, y)
    # without gradients the non-differentiable loss still evaluates
    assert lt.Loss("zero_one", reduction="sum")(x.detach(), y).dtype == F64
