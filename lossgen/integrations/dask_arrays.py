r"""``lossgen.dask``: a loss and its derivatives over chunked Dask arrays.

Elementwise outputs are *blockwise*: block :math:`B` of the gradient is the kernel's
gradient on block :math:`B` of every input, with the reduction's global scale
(:math:`1/n` for "mean", :math:`n` the total number of elements, not the block's), so
each element is computed exactly as :class:`~lossgen.runtime.loss.Loss` computes it on
one machine.  A reduced loss is a *tree reduction*: each block's float64 total
:math:`S_B = \sum_{i \in B} w_i l_i` (the kernel's own sum), then the blocks' totals
summed pairwise up a tree (``split_every`` at a time), divided by :math:`n` for "mean"
and cast to the inputs' dtype at the end.  Only the order of the float64 additions
differs from the single-machine sum.

Everything is lazy: the functions return Dask arrays (a 0-d array for "sum"/"mean"),
computed by whatever scheduler is active — threads, processes, or a
``distributed.Client`` to a cluster.  Workers import lossgen and find the loss again
from a :class:`~lossgen.integrations.resolve.LossRef` (a catalog name, or the bytes of a
user's spec, compiled in the worker's own cache).  Several outputs of one kernel
(``grad_hess``, several differentiable inputs) come from one task per block, stacked
along a new leading axis and sliced apart.
"""
from __future__ import annotations

import dask.array as da
import numpy as np

from ..errors import NotDifferentiableError
from ..runtime.arguments import FLOAT_DTYPES, bind_params, bind_positional, check_reduction
from .resolve import LossRef

#: which generated kernel each operation calls, whether it takes the reduction scale,
#: and what it returns (``"sum"``: a float64 total)
_ELEMENTWISE = {"loss": ("loss_none", False), "grad": ("grad", True), "grad_hess": ("grad_hess", True)}


def _kernel_args(ref: LossRef, blocks, has_weight: bool, params, scale):
    """The module and the flat arguments its kernels take for one block."""
    module = ref.resolve().module
    xs = blocks[:-1] if has_weight else blocks
    flat = [np.ascontiguousarray(x).reshape(-1) for x in xs]
    w = (np.ascontiguousarray(blocks[-1]).reshape(-1) if has_weight
         else np.empty(0, xs[0].dtype))
    return module, xs[0], flat + [w] + list(params) + ([] if scale is None else [scale])


def block_outputs(ref: LossRef, kernel: str, count: int, has_weight: bool, params, scale, *blocks):
    """One block of an elementwise kernel: its ``count`` outputs, stacked along a new
    axis 0 when there are several (one buffer; the kernels write into its rows)."""
    module, first, args = _kernel_args(ref, blocks, has_weight, params, scale)
    buf = np.empty((count,) + first.shape, first.dtype)
    getattr(module, kernel)(*args, *(buf[k].reshape(-1) for k in range(count)))
    return buf[0] if count == 1 else buf


def block_total(ref: LossRef, has_weight: bool, params, *blocks):
    """One block's float64 total of the (weighted) loss, shaped to tile the partials array."""
    module, first, args = _kernel_args(ref, blocks, has_weight, params, None)
    return np.full((1,) * first.ndim, module.loss_sum(*args), np.float64)


class _Call:
    """The bound, checked, chunk-aligned arguments of one call."""

    def __init__(self, op: str, name_or_spec_path, arrays, kwargs, reduction, weight):
        self.ref = LossRef.of(name_or_spec_path, f"lossgen.dask.{op}")
        loss = self.ref.resolve()
        self.loss = loss
        where = self.where = f"lossgen.dask.{op}({loss.name!r})"
        kwargs = dict(kwargs)
        values = bind_positional(where, loss.input_names, arrays, kwargs)
        self.params = bind_params(where, loss.params, kwargs)
        loss.module.check_params(*self.params)
        self.reduction = check_reduction(where, loss.default_reduction if reduction is None else reduction)
        xs = [self._dask(v, n) for v, n in zip(values, loss.input_names)]
        first = xs[0]
        if first.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{where}: argument '{loss.input_names[0]}' has dtype {first.dtype}; expected "
                            "float32 or float64")
        named = list(zip(loss.input_names, xs)) + ([("weight", self._dask(weight, "weight"))] if weight is not None
                                                   else [])
        for n, x in named[1:]:
            if x.shape != first.shape:
                raise ValueError(f"{where}: argument '{n}' has shape {x.shape}; expected {first.shape}, the shape "
                                 f"of '{loss.input_names[0]}'")
            if x.dtype not in FLOAT_DTYPES:
                raise TypeError(f"{where}: argument '{n}' has dtype {x.dtype}; expected float32 or float64")
        # one dtype (the first input's), one chunking (the first input's): blocks line up
        self.arrays = [first] + [x.astype(first.dtype).rechunk(first.chunks) for _, x in named[1:]]
        self.has_weight = weight is not None
        self.first = first
        self.n = int(np.prod(first.shape))

    def _dask(self, value, name):
        if isinstance(value, da.Array):
            return value
        arr = np.asarray(value)
        if arr.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{self.where}: argument '{name}' has dtype {arr.dtype}; expected float32 or float64")
        return da.from_array(arr)

    @property
    def scale(self) -> float:
        return 1.0 / self.n if (self.reduction == "mean" and self.n > 0) else 1.0

    def require_derivatives(self):
        if not self.loss.differentiable:
            raise NotDifferentiableError(f"{self.where}: '{self.loss.name}' is declared non-differentiable")

    def elementwise(self, op: str, count: int):
        kernel, scaled = _ELEMENTWISE[op]
        scale = self.scale if scaled else None
        x = self.first
        common = {"dtype": x.dtype, "token": f"lossgen-{self.loss.name}-{kernel}"}
        fn_args = (block_outputs, self.ref, kernel, count, self.has_weight, tuple(self.params), scale)
        if count == 1:
            return da.map_blocks(*fn_args, *self.arrays, chunks=x.chunks, **common)
        stacked = da.map_blocks(*fn_args, *self.arrays, chunks=((count,),) + x.chunks, new_axis=0, **common)
        return tuple(stacked[k] for k in range(count))

    def total(self, split_every):
        x = self.first
        partials = da.map_blocks(block_total, self.ref, self.has_weight, tuple(self.params), *self.arrays,
                                 chunks=tuple((1,) * len(c) for c in x.chunks), dtype=np.float64,
                                 token=f"lossgen-{self.loss.name}-loss_sum")
        total = partials.sum(split_every=split_every)
        if self.reduction == "mean":
            total = total / self.n if self.n > 0 else total * np.nan
        return total.astype(x.dtype)


def loss(name_or_spec_path, *arrays, reduction=None, weight=None, split_every=None, **kwargs):
    """The loss over Dask arrays: an array for reduction "none", else a 0-d Dask array
    (a tree reduction of float64 block totals, ``split_every`` blocks per node)."""
    call = _Call("loss", name_or_spec_path, arrays, kwargs, reduction, weight)
    if call.reduction == "none":
        return call.elementwise("loss", 1)
    return call.total(split_every)


def grad(name_or_spec_path, *arrays, reduction=None, weight=None, **kwargs):
    """d loss / d input of the reduced loss: a Dask array (a tuple, one per differentiable
    input, when there are several)."""
    call = _Call("grad", name_or_spec_path, arrays, kwargs, reduction, weight)
    call.require_derivatives()
    return call.elementwise("grad", len(call.loss.diff_names))


def grad_hess(name_or_spec_path, *arrays, reduction=None, weight=None, **kwargs):
    """(gradient, diagonal Hessian) from one task per block, as gradient boosting needs;
    each a tuple for several differentiable inputs."""
    call = _Call("grad_hess", name_or_spec_path, arrays, kwargs, reduction, weight)
    call.require_derivatives()
    k = len(call.loss.diff_names)
    out = call.elementwise("grad_hess", 2 * k)
    pack = (lambda t: t[0]) if k == 1 else tuple
    return pack(out[:k]), pack(out[k:])
