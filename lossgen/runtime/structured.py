r"""The array API of a structured loss: :class:`StructuredLoss` wraps one generated module.

``loss``, ``grad`` and ``loss_grad`` take the inputs positionally in spec order (or by
name; an input with the role ``weight`` may be left out), parameters as keywords, and

* ``reduction`` — for a row loss (one loss per sample): "none" (the (n,) row losses),
  "sum", or "mean" (divided by n, or by the sum of the spec's ``mean_weight`` over the
  rows: torch's weighted mean for cross-entropy).  Derivatives are those of the reduced
  loss ("none": of the sum).  A set loss (Dice, ...) is one number for the whole set:
  "sum" and "mean" both give it, "none" is refused.
* ``out`` — not offered: results are new arrays (recycled from an earlier call once
  the caller has let go of them, :mod:`lossgen.runtime.buffers`).

Arrays keep their dtype (float32 in, float32 out); the mathematics and every sum run in
float64.  With one differentiable input a gradient is an array of its shape; with several,
a tuple in spec order.
"""
from __future__ import annotations

import numpy as np

from ..errors import NotDifferentiableError
from . import buffers
from .structured_arguments import Bound, bind_structured, check_indices


def _ones(shape, dtype):
    return np.ones(shape, dtype)


class StructuredLoss:
    """A compiled structured loss: the generated module's kernels behind a NumPy API."""

    def __init__(self, module, spec=None):
        self.module = module
        self.name: str = module.NAME
        self.axes: tuple[str, ...] = module.AXES
        self.axis: str = ", ".join(module.AXES)   # the axis, or the axes joined by ", "
        self.input_names = tuple(n for n, _, _, _ in module.INPUTS)
        self.diff_names = tuple(n for n, _, d, _ in module.INPUTS if d)
        self.params = module.PARAMS
        self.default_reduction = module.DEFAULT_REDUCTION
        self.differentiable = module.DIFFERENTIABLE
        self._spec = spec
        self._cuda = None

    def __repr__(self) -> str:
        params = ", ".join(f"{n}={v}" for n, v in self.params)
        return f"<lossgen.StructuredLoss {self.name}({', '.join(self.input_names)}; {params}) over '{self.axis}'>"

    @property
    def spec(self):
        if self._spec is None:
            from ..catalog import spec_for
            self._spec = spec_for(self.name)
        return self._spec

    @property
    def properties(self) -> dict:
        from ..analysis import analyze
        return analyze(self.spec)

    @property
    def cuda(self):
        """The same API on CUDA device arrays (:class:`~lossgen.runtime.structured_cuda.StructuredCudaLoss`)."""
        if self._cuda is None:
            from .structured_cuda import StructuredCudaLoss
            self._cuda = StructuredCudaLoss(self)
        return self._cuda

    # -- the API -----------------------------------------------------------------------
    def loss(self, *arrays, reduction=None, **kwargs):
        return self._run("loss", arrays, kwargs, reduction, want_loss=True, want_grad=False)[0]

    def grad(self, *arrays, reduction=None, **kwargs):
        return self._run("grad", arrays, kwargs, reduction, want_loss=False, want_grad=True)[1]

    def loss_grad(self, *arrays, reduction=None, **kwargs):
        """(loss, gradient) from one call of the kernels."""
        return self._run("loss_grad", arrays, kwargs, reduction, want_loss=True, want_grad=True)

    # -- kernels -----------------------------------------------------------------------
    def _bind(self, method, arrays, kwargs, reduction) -> Bound:
        where = f"{self.name}.{method}"
        b = bind_structured(self.module, where, arrays, dict(kwargs), reduction, _ones)
        check_indices(self.module, where, b)
        if self.axis == "set" and b.reduction == "none":
            raise ValueError(f"{where}: '{self.name}' is one number for the whole set; reduction='none' has no "
                             "per-row values (use 'mean' or 'sum')")
        return b

    def _run(self, method, arrays, kwargs, reduction, want_loss, want_grad):
        if want_grad and not self.differentiable:
            raise NotDifferentiableError(f"{self.name}.{method}: the loss is not differentiable")
        b = self._bind(method, arrays, kwargs, reduction)
        if self.axis == "set":
            return self._run_set(b, want_grad)
        return self._run_rows(b, want_loss, want_grad)

    def _grad_buffers(self, b: Bound, want_grad: bool):
        kinds = {n: kind for n, _, _, kind in self.module.INPUTS}
        if not want_grad:
            return [np.empty((0, 0) if kinds[n] == "axis" else 0, b.dtype) for n in self.diff_names]
        # recycled when the caller has dropped an earlier result (lossgen.runtime.buffers):
        # a fresh array's first touch costs a page fault per 4 KiB
        return [buffers.empty((b.n, b.k_of(self.module, n)) if kinds[n] == "axis" else (b.n,), b.dtype)
                for n in self.diff_names]

    def _run_rows(self, b: Bound, want_loss, want_grad):
        m = self.module
        red = b.reduction
        den = 1.0
        if red == "mean":
            den = m.mean_weight_sum(*b.arrays, *b.params, b.n) if m.HAS_MEAN_WEIGHT else float(b.n)
        with np.errstate(divide="ignore", invalid="ignore"):  # a mean over no rows is nan, as in torch
            # no row counts (every target ignored): the loss is nan and the gradient 0, as torch's
            scale = (1.0 / den if den != 0 else 0.0) if red == "mean" else 1.0
            out_loss = buffers.empty((b.n,), b.dtype) if red == "none" else np.empty(0, b.dtype)
            grads = self._grad_buffers(b, want_grad)
            total = m.rows(*b.arrays, *b.params, b.n, scale, want_grad, out_loss, *grads)
            loss = out_loss if red == "none" else b.dtype.type(np.float64(total) / den if red == "mean" else total)
        return loss, self._pack(grads)

    def _run_set(self, b: Bound, want_grad):
        m = self.module
        sums = m.set_sums(*b.arrays, *b.params, b.n)
        if not want_grad:
            return b.dtype.type(m.point_row_loss(*sums, *b.params, float(b.n))), None
        values = m.point_row_adjoint(*sums, *b.params, float(b.n))
        values = values if isinstance(values, tuple) else (values,)
        grads = self._grad_buffers(b, True)
        m.set_grad(*b.arrays, *b.params, b.n, *sums, *values[1:1 + len(sums)], *grads)
        return b.dtype.type(values[0]), self._pack([g.reshape(b.shape) for g in grads])

    @staticmethod
    def _pack(grads):
        if grads is None:
            return None
        return grads[0] if len(grads) == 1 else tuple(grads)
