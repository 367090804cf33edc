"""``lossgen.torch.Loss`` on CUDA tensors: the device path of the PyTorch integration.

Runs only on a machine with a GPU and a CUDA build of torch (``LOSSGEN_CUDA_TESTS=1
python -m pytest tests/cuda``); in the simulator torch has no CUDA device and these
tests skip.  The reference is torch's own loss on the same CUDA tensors, and
gradcheck / gradgradcheck (finite differences in float64) on the device.
"""
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("torch has no CUDA device here", allow_module_level=True)

import lossgen.torch as lt  # noqa: E402

F = torch.nn.functional
DEV = "cuda"


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,ref", [
    ("huber", lambda x, y, r: F.huber_loss(x, y, delta=0.7, reduction=r)),
    ("bce_with_logits", lambda x, y, r: F.binary_cross_entropy_with_logits(x, y, reduction=r)),
])
def test_loss_and_gradient_on_cuda_equal_torch(name, ref, dtype, tol, reduction):
    g = torch.Generator(device=DEV).manual_seed(3)
    x = (3 * torch.randn(100_003, generator=g, device=DEV, dtype=torch.float64)).to(dtype).requires_grad_()
    y = torch.rand(100_003, generator=g, device=DEV, dtype=torch.float64).to(dtype)
    params = {"delta": 0.7} if name == "huber" else {}
    mine = lt.Loss(name, reduction=reduction, **params)(x, y)
    want = ref(x, y, reduction)
    assert mine.device.type == "cuda" and mine.dtype == dtype and mine.shape == want.shape
    torch.testing.assert_close(mine, want, rtol=tol, atol=tol)
    upstream = torch.rand(want.shape, generator=g, device=DEV, dtype=torch.float64).to(dtype) + 0.5
    (g_mine,) = torch.autograd.grad(mine, x, upstream)
    (g_want,) = torch.autograd.grad(want, x, upstream)
    assert g_mine.device.type == "cuda"
    torch.testing.assert_close(g_mine, g_want, rtol=tol, atol=tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_and_gradgradcheck_on_cuda(reduction):
    g = torch.Generator(device=DEV).manual_seed(5)
    kw = dict(generator=g, device=DEV, dtype=torch.float64)
    x, y = 2 * torch.randn(25, **kw), torch.randn(25, **kw)
    crit = lt.Loss("log_cosh", reduction=reduction)
    xg = x.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: crit(a, y), (xg,))
    assert torch.autograd.gradgradcheck(lambda a: crit(a, y), (xg,))
    mu, var = torch.randn(9, **kw).requires_grad_(), (torch.rand(9, **kw) + 0.5).requires_grad_()
    t = torch.randn(9, **kw)
    nll = lt.Loss("gaussian_nll", reduction=reduction)
    assert torch.autograd.gradcheck(lambda a, v: nll(a, t, v), (mu, var))
    assert torch.autograd.gradgradcheck(lambda a, v: nll(a, t, v), (mu, var))
    chosen, rejected = torch.randn(9, **kw).requires_grad_(), torch.randn(9, **kw).requires_grad_()
    refs = [torch.randn(9, **kw) for _ in range(2)]
    dpo = lt.Loss("dpo", beta=0.7, label_smoothing=0.1, reduction=reduction)
    assert torch.autograd.gradcheck(lambda c, r: dpo(c, r, *refs), (chosen, rejected))
    assert torch.autograd.gradgradcheck(lambda c, r: dpo(c, r, *refs), (chosen, rejected))
