"""Benchmark inputs, and the peers lossgen is measured against: the spec's mathematics
in NumPy, torch CPU forward+backward, and scikit-learn's private ``sklearn._loss``.

Each peer is a :class:`Peer`: its fused call on prepared inputs, and how to read back
its mean loss and gradient in lossgen's definition (for the agreement check).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

def bench_inputs(spec, n: int, dtype, seed: int = 0) -> list[np.ndarray]:
    """One C-contiguous array per input, drawn from its domain (lossgen.verify.points), so
    that every branch of a piecewise loss is taken and no peer meets its clamps."""
    from ..verify.points import sample_domain
    rng = np.random.default_rng(seed)
    out = []
    for inp in spec.inputs:
        x = sample_domain(inp.domain, rng, n)
        if spec.name == "poisson_nll" and inp.name == "target":
            x = rng.poisson(3.0, n).astype(np.float64)   # counts
        if spec.name == "poisson_nll" and inp.name == "pred":
            x = rng.normal(0.5, 1.0, n)                    # log-rates of moderate size
        out.append(np.ascontiguousarray(x, dtype=dtype))
    return out


# peers

@dataclasses.dataclass
class Peer:
    """A peer's fused loss+gradient (and grad+hess) call on prepared inputs, and how to
    compare its results with lossgen's: ``loss_value()`` the scalar mean loss in lossgen's
    definition, ``grads()`` the gradient(s) of lossgen's mean loss."""
    label: str
    call: Callable[[], object]
    loss_value: Callable[[], float]
    grads: Callable[[], list[np.ndarray]]
    call_gh: Callable[[], object] | None = None


def numpy_peer(L, xs, params: dict) -> Peer:
    """The spec's mathematics in NumPy (lambdified), mean loss and gradient / N."""
    import sympy as sp

    from ..verify.floats import float_function
    spec = L.spec
    expr = spec.extra.get("numeric")
    expr = spec.loss if expr is None else expr
    args = tuple(i.symbol for i in spec.inputs) + tuple(p.symbol for p in spec.params)
    f = float_function(expr, args)
    dfs = [float_function(sp.diff(expr, i.symbol), args) for i in spec.inputs if i.name in L.diff_names]
    n = xs[0].shape[0]
    # parameters as full columns, as float_function's callers pass them: a lambdified
    # Piecewise (np.select) does not broadcast a scalar condition against array ones
    pv = [np.full(n, float(params[p.name])) for p in spec.params]
    state = {}

    def call():
        # float_function evaluates in float64 (as NumPy users do for accuracy);
        # the results are cast back to the input dtype, as lossgen returns them
        state["loss"] = float(np.mean(f(*xs, *pv)))
        state["grads"] = [(df(*xs, *pv) / n).astype(xs[0].dtype) for df in dfs]
        return state["loss"]
    return Peer("numpy", call, lambda: state["loss"], lambda: state["grads"])


def _torch_ops(name):
    """Losses torch.nn.functional lacks, in torch ops (forward (tensors, params) -> elementwise)."""
    import torch
    F = torch.nn.functional

    def focal(t, p):  # torchvision.ops.sigmoid_focal_loss, verbatim
        x, y = t
        prob = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = prob * y + (1 - prob) * (1 - y)
        loss = ce * ((1 - p_t) ** p["gamma"])
        return (p["alpha"] * y + (1 - p["alpha"]) * (1 - y)) * loss

    def log_cosh(t, p):  # stable: |r| + softplus(-2|r|) - log 2
        r = (t[0] - t[1]).abs()
        return r + F.softplus(-2.0 * r) - math.log(2.0)

    def hinge(t, p):
        return F.relu(1.0 - t[0] * t[1])

    def squared_hinge(t, p):
        return F.relu(1.0 - t[0] * t[1]) ** 2

    def quantile(t, p):
        r = t[1] - t[0]
        return torch.maximum(p["tau"] * r, (p["tau"] - 1.0) * r)

    return {"focal": focal, "log_cosh": log_cosh, "hinge": hinge, "squared_hinge": squared_hinge,
            "quantile": quantile}.get(name)


def _torch_kwargs(name, params):
    import torch
    if name == "huber":
        return {"delta": params["delta"]}
    if name == "smooth_l1":
        return {"beta": params["beta"]}
    if name == "poisson_nll":
        return {"log_input": True, "full": bool(params["full"])}
    if name == "gaussian_nll":
        return {"full": bool(params["full"]), "eps": params["eps"]}
    if name == "bce_with_logits" and params["pos_weight"] != 1.0:
        return {"pos_weight": torch.tensor(params["pos_weight"])}
    return {}


def torch_peer(L, xs, params: dict) -> Peer | None:
    """torch CPU forward (mean) + backward, or None where torch lacks the loss."""
    try:
        import torch
    except ImportError:
        return None
    F = torch.nn.functional
    torch_name = L.spec.torch
    ops = _torch_ops(L.name)
    if torch_name is None and ops is None:
        return None
    if torch_name is not None:
        fn = getattr(F, torch_name)
        kw = _torch_kwargs(L.name, params)
        forward = lambda t: fn(*t, reduction="mean", **kw)   # noqa: E731
        label = f"torch F.{torch_name}"
    else:
        forward = lambda t: ops(t, params).mean()           # noqa: E731
        label = "torch (ops)"
    state = {}

    def call():
        t = [torch.from_numpy(x).requires_grad_(n in L.diff_names) for x, n in zip(xs, L.input_names)]
        loss = forward(t)
        loss.backward()
        state["loss"], state["t"] = loss, t
        return loss

    def grads():
        return [t.grad.numpy() for t, n in zip(state["t"], L.input_names) if n in L.diff_names]
    return Peer(label, call, lambda: float(state["loss"].detach()), grads)


# sklearn._loss classes: lossgen name -> (class name, params -> kwargs, y transform,
# raw transform, (loss factor, lossgen grad from sklearn's (grad, pred)))
_IDENT = lambda v: v                              # noqa: E731
_PM1_TO_01 = lambda t: (t + 1.0) / 2.0            # noqa: E731  labels -1/+1 -> 0/1


def _log_link_grad(factor):
    # sklearn differentiates in raw = log(pred): d/dpred = d/draw / pred
    return lambda g, pred: factor * g / pred


SKLEARN = {
    "mse": ("HalfSquaredError", lambda p: {}, _IDENT, _IDENT, 2.0, lambda g, pred: 2.0 * g),
    "mae": ("AbsoluteError", lambda p: {}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "quantile": ("PinballLoss", lambda p: {"quantile": p["tau"]}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "huber": ("HuberLoss", lambda p: {"delta": p["delta"]}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "bce_with_logits": ("HalfBinomialLoss", lambda p: {}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "logistic": ("HalfBinomialLoss", lambda p: {}, _PM1_TO_01, _IDENT, 1.0, lambda g, pred: g),
    "exponential": ("ExponentialLoss", lambda p: {}, _PM1_TO_01, _IDENT, 1.0, lambda g, pred: g),
    "poisson_nll": ("HalfPoissonLoss", lambda p: {}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "gamma_deviance": ("HalfGammaLoss", lambda p: {}, _IDENT, np.log, None, _log_link_grad(2.0)),
    "tweedie_deviance": ("HalfTweedieLoss", lambda p: {"power": p["power"]}, _IDENT, np.log, None,
                         _log_link_grad(2.0)),
}


def sklearn_peer(L, xs, params: dict, n_threads: int) -> Peer | None:
    """``sklearn._loss`` loss_gradient / gradient_hessian, or None where it lacks the loss
    (or at parameters it does not model, e.g. poisson_nll full=1, bce pos_weight != 1)."""
    if L.name not in SKLEARN:
        return None
    if (L.name == "poisson_nll" and params["full"]) or (L.name == "bce_with_logits" and params["pos_weight"] != 1.0):
        return None
    try:
        from sklearn._loss import loss as sk
    except ImportError:
        return None
    cls, kw, ytf, rawtf, loss_factor, grad_of = SKLEARN[L.name]
    obj = getattr(sk, cls)(**kw(params))
    pred, target = xs
    y, raw = np.ascontiguousarray(ytf(target)), np.ascontiguousarray(rawtf(pred))
    loss_out, grad_out, hess_out = (np.empty_like(pred) for _ in range(3))
    n = pred.shape[0]

    def call():
        return obj.loss_gradient(y, raw, loss_out=loss_out, gradient_out=grad_out, n_threads=n_threads)

    def call_gh():
        return obj.gradient_hessian(y, raw, gradient_out=grad_out, hessian_out=hess_out, n_threads=n_threads)

    def loss_value():
        # half-deviances differ from lossgen's deviances by a constant per element: no
        # comparable loss value there (nan: the gradient is compared)
        return float(loss_factor * np.mean(loss_out, dtype=np.float64)) if loss_factor else math.nan

    def grads():
        call()
        return [(grad_of(grad_out.astype(np.float64), pred.astype(np.float64)) / n).astype(pred.dtype)]
    return Peer(f"sklearn {cls}", call, loss_value, grads, call_gh)
