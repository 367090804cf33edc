r"""The array API of a loss: :class:`Loss` wraps one generated module.

``loss``, ``grad``, ``hess``, ``loss_grad``, ``grad_hess`` and ``hess_full`` take the
inputs positionally in spec order (or by name), parameters as keywords, and

* ``reduction`` — "none" (elementwise), "sum" or "mean" (torch semantics; the
  spec's ``default_reduction`` when omitted).  Derivatives are those of the reduced
  loss: for "mean", the elementwise derivative divided by n.
* ``weight`` — per-element weights w_i: the loss is :math:`\sum_i w_i l_i` (divided by n
  for "mean", as torch's ``weight``), derivatives are scaled alike.
* ``out`` — preallocated result arrays (C-contiguous, the inputs' shape and dtype).

Arrays keep their dtype: float32 in, float32 out.  Sums accumulate in float64 and come
back as a NumPy scalar of the input dtype.  With one differentiable input a derivative
is an array; with several it is a tuple, one array per differentiable input in spec order.
"""
from __future__ import annotations

import numpy as np

from ..errors import NotDifferentiableError
from .arguments import (bind_inputs, bind_params, check_reduction, out_buffers, plain_inputs,
                        separate_overlaps, weight_vector)

_EMPTY = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0, np.float64)}


def _flat_input(x):
    """``x`` as a C-contiguous 1-d array: a view when it is C-contiguous, else a copy.

    The sum kernels vectorise their float64 total over contiguous data; a strided input
    would be summed in another order, so the same values laid out differently would give
    a total differing in the last bit.  Copying makes results independent of layout."""
    if x.flags.c_contiguous:
        return x if x.ndim == 1 else x.reshape(-1)
    return np.ascontiguousarray(x).reshape(-1)


def _flat(bufs):
    """1-d views of the output buffers (C-contiguous, so no copy)."""
    return [b if b.ndim == 1 else b.reshape(-1) for b in bufs]


class Loss:
    """A compiled loss: the generated module's kernels behind a NumPy API."""

    def __init__(self, module, spec=None):
        self.module = module
        self.name: str = module.NAME
        self.input_names = tuple(n for n, _, _ in module.INPUTS)
        self.diff_names = tuple(n for n, _, d in module.INPUTS if d)
        self.params = module.PARAMS
        self.default_reduction = module.DEFAULT_REDUCTION
        self.differentiable = module.DIFFERENTIABLE
        self._spec = spec
        self._properties = None
        self._cuda = None
        # per-call constants, computed once (the per-call Python cost is part of every
        # small-batch call: see benchmarks/RESULTS.md)
        self._input_set = frozenset(self.input_names)
        self._where = {m: f"{self.name}.{m}" for m in
                       ("loss", "grad", "hess", "loss_grad", "grad_hess", "hess_full")}
        self._name_cache = {p: tuple(f"{p}_{n}" for n in self.diff_names) for p in ("grad", "hess")}
        self._default_params = None     # the defaults, once check_params accepted them

    def __repr__(self) -> str:
        params = ", ".join(f"{n}={v}" for n, v in self.params)
        return f"<lossgen.Loss {self.name}({', '.join(self.input_names)}; {params})>"

    # -- metadata --------------------------------------------------------------------
    @property
    def spec(self):
        """The parsed spec (SymPy expressions)."""
        if self._spec is None:
            from ..catalog import spec_for
            self._spec = spec_for(self.name)
        return self._spec

    @property
    def properties(self) -> dict:
        """The analysis of this loss at its default parameters, as ``lossgen analyze --json``
        prints it (convexity, smoothness, influence bound, efficiency, ...).

        Computed on first access (a few seconds, at most 30) and cached; the symbolic
        analysis is imported only here, never by the kernels."""
        if self._properties is None:
            from ..analysis import analyze
            self._properties = analyze(self.spec)
        return self._properties

    @property
    def cuda(self):
        """The same API on CUDA device arrays (:class:`lossgen.runtime.cuda.CudaLoss`).

        Always available; a launch where there is no CUDA raises CudaUnavailableError."""
        if self._cuda is None:
            from .cuda import CudaLoss
            self._cuda = CudaLoss(self)
        return self._cuda

    # -- argument handling -------------------------------------------------------------
    def _prepare(self, method, arrays, kwargs, reduction, weight):
        """(where, flattened inputs, parameter values, weights, reduction, shape, dtype).

        ``kwargs`` is the call's own ``**kwargs`` dict (inputs given by keyword are popped
        from it).  Positional same-dtype ndarrays and default parameters take a short path
        through the same checks."""
        where = self._where[method]
        xs = plain_inputs(arrays, len(self.input_names))
        if xs is None or (kwargs and not self._input_set.isdisjoint(kwargs)):
            xs = bind_inputs(where, self.input_names, arrays, kwargs)
        if kwargs:
            params = bind_params(where, self.params, kwargs)
            self.module.check_params(*params)
        else:
            params = self._default_params
            if params is None:
                params = bind_params(where, self.params, kwargs)
                self.module.check_params(*params)
                self._default_params = params
        x0 = xs[0]
        shape, dtype = x0.shape, x0.dtype
        red = check_reduction(where, self.default_reduction if reduction is None else reduction)
        w = _EMPTY[dtype] if weight is None else weight_vector(where, weight, shape, dtype, _EMPTY[dtype])
        flat = [_flat_input(x) for x in xs]
        return where, flat, params, _flat_input(w), red, shape, dtype

    def _require_derivatives(self, method):
        if not self.differentiable:
            raise NotDifferentiableError(
                f"{self.name}.{method}: the loss '{self.name}' is declared non-differentiable "
                "(differentiable = false in its spec); only loss() is available")

    def _names(self, prefix):
        return self._name_cache[prefix]

    def _pack(self, arrays):
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    @staticmethod
    def _scale(red, n):
        return 1.0 / n if (red == "mean" and n > 0) else 1.0

    @staticmethod
    def _total(red, total, n, dtype):
        if red == "mean":
            # the mean of no elements is nan, as in torch (not a ZeroDivisionError)
            value = total / n if n > 0 else float("nan")
        else:
            value = total
        return dtype.type(value)

    # -- API ---------------------------------------------------------------------------
    def loss(self, *arrays, reduction=None, weight=None, out=None, **kwargs):
        """The loss; an array for reduction "none", else a scalar."""
        where, xs, ps, w, red, shape, dtype = self._prepare("loss", arrays, kwargs, reduction, weight)
        if red == "none":
            (buf,) = out_buffers(where, out, 1, shape, dtype, ("loss",))
            if out is not None:
                xs, w = separate_overlaps(xs, w, [buf])
            self.module.loss_none(*xs, w, *ps, buf.reshape(-1))
            return buf
        if out is not None:
            raise TypeError(f"{where}: out= applies to reduction='none' only")
        return self._total(red, self.module.loss_sum(*xs, w, *ps), xs[0].shape[0], dtype)

    def _derivatives(self, method, arrays, kwargs, reduction, weight, out, prefixes):
        """Run the derivative kernel ``method`` whose outputs are, for each prefix, one
        array per differentiable input; return the buffers in that order."""
        self._require_derivatives(method)
        where, xs, ps, w, red, shape, dtype = self._prepare(method, arrays, kwargs, reduction, weight)
        names = tuple(n for p in prefixes for n in self._names(p))
        bufs = out_buffers(where, out, len(names), shape, dtype, names)
        if out is not None:
            xs, w = separate_overlaps(xs, w, bufs)
        getattr(self.module, method)(*xs, w, *ps, self._scale(red, xs[0].shape[0]), *_flat(bufs))
        return bufs

    def grad(self, *arrays, reduction=None, weight=None, out=None, **kwargs):
        """d loss / d input for each differentiable input (consistent with ``reduction``)."""
        return self._pack(self._derivatives("grad", arrays, kwargs, reduction, weight, out, ("grad",)))

    def hess(self, *arrays, reduction=None, weight=None, out=None, **kwargs):
        """Diagonal second derivative d2 loss / d input2 for each differentiable input."""
        return self._pack(self._derivatives("hess", arrays, kwargs, reduction, weight, out, ("hess",)))

    def loss_grad(self, *arrays, reduction=None, weight=None, out=None, **kwargs):
        """(loss, grad) in one pass over memory.  ``out=(loss_buf or None, grad_buf[s]...)``."""
        self._require_derivatives("loss_grad")
        where, xs, ps, w, red, shape, dtype = self._prepare("loss_grad", arrays, kwargs, reduction, weight)
        k = len(self.diff_names)
        names = ("loss",) + self._names("grad")
        scale = self._scale(red, xs[0].shape[0])
        if red == "none":
            bufs = out_buffers(where, out, k + 1, shape, dtype, names)
            if out is not None:
                xs, w = separate_overlaps(xs, w, bufs)
            self.module.loss_grad_none(*xs, w, *ps, scale, *_flat(bufs))
            return bufs[0], self._pack(bufs[1:])
        if out is not None:
            out = list(out)
            if len(out) != k + 1 or out[0] is not None:
                raise TypeError(f"{where}: with reduction={red!r}, out must be (None, {', '.join(names[1:])})")
            out = out[1:]
        bufs = out_buffers(where, out, k, shape, dtype, names[1:])
        if out is not None:
            xs, w = separate_overlaps(xs, w, bufs)
        total = self.module.loss_grad_sum(*xs, w, *ps, scale, *_flat(bufs))
        return self._total(red, total, xs[0].shape[0], dtype), self._pack(bufs)

    def grad_hess(self, *arrays, reduction=None, weight=None, out=None, **kwargs):
        """(grad, diagonal hess) in one pass, as gradient boosting needs.
        ``out=(grad_buf, hess_buf)``, each a tuple for several differentiable inputs."""
        k = len(self.diff_names)
        if out is not None and len(out) == 2 and k > 1:
            out = tuple(out[0]) + tuple(out[1])
        bufs = self._derivatives("grad_hess", arrays, kwargs, reduction, weight, out, ("grad", "hess"))
        return self._pack(bufs[:k]), self._pack(bufs[k:])

    def hess_full(self, *arrays, reduction=None, weight=None, **kwargs):
        """The full Hessian per element, cross terms included: a k x k nested tuple of
        arrays (symmetric entries share one array)."""
        self._require_derivatives("hess_full")
        where, xs, ps, w, red, shape, dtype = self._prepare("hess_full", arrays, kwargs, reduction, weight)
        k = len(self.diff_names)
        scale = self._scale(red, xs[0].shape[0])
        if k == 1:
            (h,) = out_buffers(where, None, 1, shape, dtype, ("hess",))
            self.module.hess(*xs, w, *ps, scale, h.reshape(-1))
            return ((h,),)
        pairs = [(a, b) for a in range(k) for b in range(a, k)]
        bufs = out_buffers(where, None, len(pairs), shape, dtype, tuple(f"h{a}{b}" for a, b in pairs))
        self.module.hess_full(*xs, w, *ps, scale, *(b.reshape(-1) for b in bufs))
        table = dict(zip(pairs, bufs))
        return tuple(tuple(table[(min(a, b), max(a, b))] for b in range(k)) for a in range(k))
