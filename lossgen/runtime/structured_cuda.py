r"""The CUDA array API of a structured loss: ``lossgen.get(name).cuda``.

The methods and arguments of :class:`~lossgen.runtime.structured.StructuredLoss`
(``loss``, ``grad``, ``loss_grad``), on device arrays (Numba device arrays or anything
with ``__cuda_array_interface__``).  Results stay on the device: arrays as Numba device
arrays, a "sum"/"mean" as a 0-d device array of the inputs' dtype.

* A row loss runs one thread per row (the row's passes over its K elements are the CPU
  kernel's, from the same generated ``row`` function compiled as a device function).
  Sums are fixed-order float64 trees (``cuda_device.block_sum`` then ``finish_sum``).
  The divisor of "mean" is computed on the device; with a spec's ``mean_weight`` it is
  read back to the host once (a synchronisation) to divide the total.
* A set loss writes each row's reduction bodies to a float64 buffer, sums each by the
  same fixed-order tree, reads the few sums back, evaluates the loss and its adjoints
  on the host (the generated point function), and launches the gradient pass.

Class indices are range-checked by the host API only (that needs their values on the
host); on the device an index outside [0, K) reads the taken element as 0 — the value a
spec's ``ignore_index`` rows never use — so check indices before launching.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import NotDifferentiableError
from .cuda import launch_config, require_cuda
from .structured_arguments import Bound, bind_structured

_tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class StructuredCudaLoss:
    """A structured loss's CUDA kernels behind the host API, on device arrays."""

    def __init__(self, loss):
        self._loss = loss
        self.name = loss.name
        self.input_names = loss.input_names
        self.diff_names = loss.diff_names
        self.params = loss.params
        self.default_reduction = loss.default_reduction

    def __repr__(self) -> str:
        return f"<lossgen.StructuredCudaLoss {self.name}({', '.join(self.input_names)})>"

    def _kernels(self):
        module = self._loss.module
        table = _tables.get(module)
        if table is None:
            from . import cuda_device
            table = _tables[module] = module.cuda_kernels(cuda_device)
        return table

    def loss(self, *arrays, reduction=None, **kwargs):
        return self._run("loss", arrays, kwargs, reduction, want_grad=False)[0]

    def grad(self, *arrays, reduction=None, **kwargs):
        return self._run("grad", arrays, kwargs, reduction, want_grad=True)[1]

    def loss_grad(self, *arrays, reduction=None, **kwargs):
        return self._run("loss_grad", arrays, kwargs, reduction, want_grad=True)

    def _run(self, method, arrays, kwargs, reduction, want_grad):
        where = f"{self.name}.cuda.{method}"
        cuda = require_cuda(where)
        if want_grad and not self._loss.differentiable:
            raise NotDifferentiableError(f"{where}: the loss is not differentiable")
        arrays = tuple(_device(cuda, a, where, n) for a, n in zip(arrays, self.input_names))
        kwargs = {k: (_device(cuda, v, where, k) if k in self.input_names and v is not None else v)
                  for k, v in kwargs.items()}

        def ones(shape, dtype):
            return cuda.to_device(np.ones(shape, dtype))
        b = bind_structured(self._loss.module, where, arrays, kwargs, reduction, ones)
        if self._loss.axis == "set":
            if b.reduction == "none":
                raise ValueError(f"{where}: '{self.name}' is one number for the whole set; reduction='none' has "
                                 "no per-row values (use 'mean' or 'sum')")
            return self._run_set(cuda, b, want_grad)
        return self._run_rows(cuda, b, want_grad)

    def _grad_buffers(self, cuda, b: Bound, want_grad):
        m = self._loss.module
        kinds = {n: kind for n, _, _, kind in m.INPUTS}
        return [cuda.device_array(((b.n, b.k_of(m, n)) if kinds[n] == "axis" else (b.n,)) if want_grad else
                                  ((0, 0) if kinds[n] == "axis" else 0), b.dtype) for n in self.diff_names]

    def _sum(self, cuda, kernel, args, n, divisor, dtype):
        from .cuda_device import finish_sum
        blocks, threads = launch_config(cuda, max(n, 1))
        partials = cuda.device_array(blocks, np.float64)
        kernel[blocks, threads](*args, partials)
        result = cuda.device_array((), dtype)
        finish_sum[1, threads](partials, divisor, result)
        return result

    def _run_rows(self, cuda, b: Bound, want_grad):
        m, k = self._loss.module, self._kernels()
        red = b.reduction
        den = 1.0
        if red == "mean":
            if m.HAS_MEAN_WEIGHT:
                den = float(self._sum(cuda, k["mean_weight_sum"], (*b.arrays, *b.params, b.n), b.n, 1.0,
                                      np.float64).copy_to_host()[()])
            else:
                den = float(b.n)
        scale = cuda.to_device(np.array([1.0 / den if red == "mean" else 1.0]))
        out_loss = cuda.device_array(b.n if red == "none" else 0, b.dtype)
        grads = self._grad_buffers(cuda, b, want_grad)
        args = (*b.arrays, *b.params, b.n, scale, want_grad, out_loss, *grads)
        if m.SCRATCH_INPUT is not None:  # the loss alone: one scratch row of K per thread for the softmax pass
            blocks, threads = launch_config(cuda, max(b.n, 1))
            k_scratch = b.k_of(m, m.SCRATCH_INPUT)
            args += (cuda.device_array((blocks * threads if not want_grad else 0, k_scratch if not want_grad else 0),
                                       b.dtype),)
        total = self._sum(cuda, k["rows"], args, b.n, den if red == "mean" else 1.0, b.dtype)
        loss = out_loss if red == "none" else total
        return loss, (grads[0] if len(grads) == 1 else tuple(grads))

    def _run_set(self, cuda, b: Bound, want_grad):
        m, k = self._loss.module, self._kernels()
        nsum = len(m.SET_OPS)
        bodies = cuda.device_array((nsum, b.n), np.float64)
        blocks, threads = launch_config(cuda, max(b.n, 1))
        k["set_bodies"][blocks, threads](*b.arrays, *b.params, b.n, bodies)
        sums = []
        for j, op in enumerate(m.SET_OPS):
            total = self._sum(cuda, k["copy_sum"], (bodies[j],), b.n, float(b.n) if op == "mean" else 1.0,
                              np.float64)
            sums.append(float(total.copy_to_host()[()]))
        n = float(b.n)
        if not want_grad:
            return cuda.to_device(np.array(m.point_row_loss(*sums, *b.params, n), b.dtype)), None
        values = m.point_row_adjoint(*sums, *b.params, n)
        values = values if isinstance(values, tuple) else (values,)
        rs = cuda.to_device(np.array(sums + list(values[1:1 + nsum]), np.float64))
        grads = self._grad_buffers(cuda, b, True)
        k["set_grad"][blocks, threads](*b.arrays, *b.params, b.n, rs, *grads)
        grads = [g.reshape(b.shape) if len(b.shape) != 1 else g for g in grads]
        return cuda.to_device(np.array(values[0], b.dtype)), (grads[0] if len(grads) == 1 else tuple(grads))


def _device(cuda, value, where, name):
    """``value`` as a Numba device array (Numba's own, or adopted from its
    ``__cuda_array_interface__``); TypeError naming the argument otherwise."""
    if getattr(value, "__cuda_ndarray__", False):
        return value
    if hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
        return cuda.as_cuda_array(value)
    raise TypeError(f"{where}: argument '{name}' is not a device array (got {type(value).__name__}); "
                    "copy it with numba.cuda.to_device, or use the CPU API")
