r"""``lossgen.torch``: a lossgen loss as a ``torch.nn.Module``.

Forward computes :math:`L = \rho(\sum_i w_i\, l(x_{1,i}, \dots, x_{m,i};\theta))` with
:math:`\rho` the reduction ("none": the elementwise :math:`w_i l_i`; "sum"; "mean":
divided by :math:`n`, as torch), by the generated kernels.  Backward multiplies the
incoming gradient :math:`\bar L` by the kernel's gradient of the reduced loss,
:math:`\bar x_a = \bar L \cdot \partial L / \partial x_a` (elementwise for "none").

Double backward: the gradient itself is the output of a second
``autograd.Function`` whose backward is the Hessian-vector product
:math:`\bar x_a = \sum_b \bar g_b\, \partial^2 L / \partial x_b \partial x_a` from the
``hess_full`` kernel (cross terms for losses with several differentiable inputs), so
``torch.autograd.grad(..., create_graph=True)`` and ``gradgradcheck`` work.  Third
derivatives are not available (``once_differentiable``).

Tensors reach the kernels without copies: CPU tensors as NumPy views
(``Tensor.numpy()`` shares memory), CUDA tensors through
``__cuda_array_interface__`` into :attr:`Loss.cuda <lossgen.runtime.loss.Loss.cuda>`
on torch's current stream; results are wrapped back without copies
(``torch.from_numpy``, ``torch.as_tensor``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ..errors import NotDifferentiableError
from ..runtime.arguments import bind_params, bind_positional, check_reduction
from ..runtime.loss import Loss as ArrayLoss
from .resolve import LossRef, resolve_loss

FLOAT_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class _Bound:
    """A loss with its parameter values and reduction: what the kernels are called with.

    Immutable; it pickles (``torch.save``, ``copy.deepcopy`` of a model) as the way to
    find its loss again, since the loss holds an imported module."""

    loss: ArrayLoss
    params: tuple[tuple[str, float], ...]
    reduction: str

    @property
    def diff_index(self) -> tuple[int, ...]:
        return tuple(self.loss.input_names.index(n) for n in self.loss.diff_names)

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return _rebuild_bound, (LossRef.of(self.loss), self.params, self.reduction)


def _rebuild_bound(ref: LossRef, params, reduction) -> _Bound:
    return _Bound(ref.resolve(), params, reduction)


# -- calling the kernels on tensors ----------------------------------------------------------

def _numpy_view(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (no copy unless a lazy neg/conj bit is set)."""
    return t.detach().resolve_neg().resolve_conj().numpy()


def _from_numpy(r):
    return torch.from_numpy(r) if isinstance(r, np.ndarray) else torch.as_tensor(r)


def _numba_stream(device: torch.device):
    """torch's current CUDA stream on ``device`` as a Numba stream (launches queue behind torch's work)."""
    from numba import cuda
    return cuda.external_stream(torch.cuda.current_stream(device).cuda_stream)


def _tree(result, convert):
    if isinstance(result, tuple):
        return tuple(_tree(r, convert) for r in result)
    return convert(result)


def call_kernel(bound: _Bound, method: str, xs, weight):
    """Run ``bound.loss.<method>`` on tensors; tensors (nested like the method's result) back."""
    kwargs = dict(bound.params)
    kwargs["reduction"] = bound.reduction
    if xs[0].device.type == "cuda":
        device = xs[0].device
        api = bound.loss.cuda
        # the device API adopts 1-d arrays of any stride, larger ones only C-contiguous
        args = [x.detach() if x.dim() <= 1 else x.detach().contiguous() for x in xs]
        kwargs["weight"] = None if weight is None else weight.detach().contiguous()
        with torch.cuda.device(device):
            kwargs["stream"] = _numba_stream(device)
            result = getattr(api, method)(*args, **kwargs)
        return _tree(result, lambda r: torch.as_tensor(r, device=device))
    args = [_numpy_view(x) for x in xs]
    kwargs["weight"] = None if weight is None else _numpy_view(weight)
    return _tree(getattr(bound.loss, method)(*args, **kwargs), _from_numpy)


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


class LossFunction(torch.autograd.Function):
    """Forward: the (reduced) loss.  Backward: incoming gradient times the kernel gradient;
    differentiable again through :class:`GradFunction` when a graph is being built."""

    @staticmethod
    def forward(ctx, bound: _Bound, weight, *xs):
        ctx.bound = bound
        wanted = [ctx.needs_input_grad[2 + i] for i in bound.diff_index]
        if any(wanted):
            loss, grads = call_kernel(bound, "loss_grad", xs, weight)   # fused: one pass
            ctx.grads = _as_tuple(grads)
            ctx.save_for_backward(weight, *xs)
        else:
            loss = call_kernel(bound, "loss", xs, weight)
            ctx.grads = None
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        bound = ctx.bound
        weight, *xs = ctx.saved_tensors
        grads = ctx.grads
        if torch.is_grad_enabled():      # create_graph=True: a gradient that can be differentiated
            grads = _as_tuple(GradFunction.apply(bound, weight, *xs))
        result = [None] * len(xs)
        for k, i in enumerate(bound.diff_index):
            if ctx.needs_input_grad[2 + i]:
                result[i] = grad_out * grads[k]
        return (None, None, *result)


class GradFunction(torch.autograd.Function):
    """Forward: the gradient of the reduced loss in each differentiable input.
    Backward: the Hessian-vector product from ``hess_full`` (cross terms included)."""

    @staticmethod
    def forward(ctx, bound: _Bound, weight, *xs):
        ctx.bound = bound
        ctx.save_for_backward(weight, *xs)
        return _as_tuple(call_kernel(bound, "grad", xs, weight))

    @staticmethod
    @once_differentiable
    def backward(ctx, *grad_grads):
        bound = ctx.bound
        weight, *xs = ctx.saved_tensors
        result = [None] * len(xs)
        if not any(ctx.needs_input_grad[2 + i] for i in bound.diff_index):
            return (None, None, *result)
        hess = call_kernel(bound, "hess_full", xs, weight)
        for a, i in enumerate(bound.diff_index):
            if not ctx.needs_input_grad[2 + i]:
                continue
            terms = [gg * hess[b][a] for b, gg in enumerate(grad_grads) if gg is not None]
            result[i] = sum(terms[1:], terms[0]) if terms else torch.zeros_like(xs[i])
        return (None, None, *result)


# -- the module ----------------------------------------------------------------------------------

def check_tensors(where: str, loss: ArrayLoss, xs: list, weight) -> None:
    """Refuse, naming the argument, anything the kernels cannot take or differentiate."""
    names = loss.input_names
    for name, x in zip(names, xs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{where}: argument '{name}' must be a torch.Tensor, got {type(x).__name__}")
    first = xs[0]
    if first.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where}: argument '{names[0]}' has dtype {first.dtype}; expected torch.float32 "
                        "or torch.float64")
    if first.device.type not in ("cpu", "cuda"):
        raise ValueError(f"{where}: argument '{names[0]}' is on device {first.device}; lossgen runs on CPU "
                         "and CUDA tensors")
    given = list(zip(names, xs)) + ([("weight", weight)] if weight is not None else [])
    for name, x in given[1:]:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{where}: argument '{name}' must be a torch.Tensor, got {type(x).__name__}")
        if x.shape != first.shape:
            raise ValueError(f"{where}: argument '{name}' has shape {tuple(x.shape)}; expected "
                             f"{tuple(first.shape)}, the shape of '{names[0]}' (no broadcasting)")
        if x.dtype != first.dtype:
            raise TypeError(f"{where}: argument '{name}' has dtype {x.dtype}; expected {first.dtype}, "
                            f"the dtype of '{names[0]}' (convert with .to({first.dtype}))")
        if x.device != first.device:
            raise ValueError(f"{where}: argument '{name}' is on device {x.device}; expected {first.device}, "
                             f"the device of '{names[0]}'")
    if not loss.differentiable:
        grad_args = [n for n, x in given if x.requires_grad]
        if grad_args:
            raise NotDifferentiableError(f"{where}: '{loss.name}' is declared non-differentiable; argument "
                                         f"'{grad_args[0]}' requires grad (detach it)")
        return
    for name, x in given:
        if x.requires_grad and name not in loss.diff_names:
            raise ValueError(f"{where}: argument '{name}' requires grad, but '{loss.name}' is differentiated "
                             f"only in {', '.join(loss.diff_names)}; pass {name}.detach()")


class Loss(torch.nn.Module):
    """A lossgen loss as a ``torch.nn.Module``.

    ``Loss(name_or_spec_path, reduction=None, **params)``: a catalog name, a spec file
    path or a :class:`lossgen.Loss`; ``reduction`` "none" | "sum" | "mean" (default: the
    spec's, "mean" for most); parameter values as keywords (checked now, fixed for the
    module's life).  Call it with the inputs in spec order (or by name) and an optional
    ``weight=`` tensor (per-element weights, no gradient)::

        crit = lossgen.torch.Loss("huber", delta=1.0)
        crit(pred, target).backward()
    """

    def __init__(self, name_or_spec_path, reduction: str | None = None, **params):
        super().__init__()
        loss = resolve_loss(name_or_spec_path, "lossgen.torch.Loss")
        where = f"lossgen.torch.Loss({loss.name!r})"
        values = bind_params(where, loss.params, dict(params))
        loss.module.check_params(*values)
        red = check_reduction(where, loss.default_reduction if reduction is None else reduction)
        self._bound = _Bound(loss, tuple(zip((n for n, _ in loss.params), values)), red)

    @property
    def loss(self) -> ArrayLoss:
        """The array-API :class:`lossgen.Loss` whose kernels this module runs."""
        return self._bound.loss

    @property
    def reduction(self) -> str:
        return self._bound.reduction

    @property
    def params(self) -> dict[str, float]:
        return dict(self._bound.params)

    def extra_repr(self) -> str:
        params = "".join(f", {n}={v:g}" for n, v in self._bound.params)
        return f"{self.loss.name!r}, reduction={self.reduction!r}{params}"

    def forward(self, *inputs, weight=None, **named):
        where = f"lossgen.torch.Loss({self.loss.name!r})"
        xs = bind_positional(where, self.loss.input_names, inputs, named)
        if named:
            raise TypeError(f"{where}: unexpected keyword argument(s) {', '.join(sorted(named))} "
                            f"(inputs: {', '.join(self.loss.input_names)}; weight); parameters are "
                            "fixed when the module is made")
        check_tensors(where, self.loss, xs, weight)
        return LossFunction.apply(self._bound, weight, *xs)
