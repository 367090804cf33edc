r"""The CUDA array API of a loss: ``lossgen.get(name).cuda``.

:class:`CudaLoss` offers the methods of :class:`~lossgen.runtime.loss.Loss` — ``loss``,
``grad``, ``hess``, ``loss_grad``, ``grad_hess``, ``hess_full`` — with the same
arguments and semantics (inputs positional in spec order or by name, parameters as
keywords, ``reduction`` "none"/"sum"/"mean" with torch's meaning, ``weight=``,
``out=``), on device arrays: Numba device arrays or any object with
``__cuda_array_interface__`` (CuPy arrays, torch CUDA tensors), adopted without a copy.

* Results stay on the device.  Arrays come back as Numba device arrays of the inputs'
  shape and dtype (wrap one with ``torch.as_tensor(r, device="cuda")`` or
  ``cupy.asarray(r)`` — no copy — or pass your own buffers with ``out=``).
* A "sum"/"mean" reduction comes back as a **0-d device array** of the inputs' dtype,
  never a host scalar, so no call synchronises the host; ``r.copy_to_host()[()]``
  fetches the value.  Sums accumulate in float64 by a fixed-order tree (per-block
  totals, then one block): repeated runs on one device give identical bits.
* ``stream=``: a Numba stream to launch on (default: Numba's default stream).  Arrays
  whose interface names a producer stream are ordered after it by an event wait on
  the device, not by a host synchronisation.
* Launch configuration: grid-stride loops with :data:`THREADS` threads per block and
  at most ``blocks_per_sm`` blocks per multiprocessor of the current device;
  :func:`launch_limits` overrides it (tests use it to force many-pass grid strides).

Kernels are compiled on first launch, per dtype and memory layout.  Importing this
module imports neither ``numba.cuda`` nor any kernel; on a machine without CUDA,
``Loss.cuda`` exists and the first launch raises
:class:`~lossgen.errors.CudaUnavailableError`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import weakref

import numpy as np

from ..errors import CudaUnavailableError, LossgenError, NotDifferentiableError
from .arguments import bind_params, check_reduction
from .cuda_arguments import (DeviceArg, bind_device_inputs, bind_weight, needs_separate_copy, order_after,
                             out_buffers)


@dataclasses.dataclass(frozen=True)
class LaunchLimits:
    """How kernels are launched: ``threads`` per block (a power of two, at most 1024),
    at most ``blocks_per_sm`` blocks per multiprocessor and ``max_blocks`` in all."""

    threads: int = 256
    blocks_per_sm: int = 8
    max_blocks: int | None = None


#: On a GPU: 256 threads per block, up to 8 resident blocks per multiprocessor (a full
#: H100 SM at 2048 threads), then each thread strides through the rest.
DEVICE_LIMITS = LaunchLimits()
#: The simulator runs every CUDA thread as a Python thread: a few small blocks.
SIMULATOR_LIMITS = LaunchLimits(threads=32, blocks_per_sm=4, max_blocks=4)
THREADS = DEVICE_LIMITS.threads

_override: LaunchLimits | None = None
_sm_counts: dict = {}
_kernel_tables: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def launch_limits(threads: int | None = None, blocks_per_sm: int | None = None, max_blocks: int | None = None):
    """Within the block, launch with these limits (unset ones keep the device's)."""
    global _override
    if threads is not None and (threads < 1 or threads > 1024 or threads & (threads - 1)):
        raise ValueError(f"threads must be a power of two between 1 and 1024, got {threads}")
    saved = _override
    try:
        from numba import cuda
        base = _default_limits(cuda) if cuda.is_available() else DEVICE_LIMITS
    except ImportError:
        base = DEVICE_LIMITS
    changes = {k: v for k, v in (("threads", threads), ("blocks_per_sm", blocks_per_sm),
                                 ("max_blocks", max_blocks)) if v is not None}
    _override = dataclasses.replace(saved or base, **changes)
    try:
        yield _override
    finally:
        _override = saved


def _is_simulator(cuda) -> bool:
    return type(cuda.get_current_device()).__module__.startswith("numba.cuda.simulator")


def _default_limits(cuda) -> LaunchLimits:
    return SIMULATOR_LIMITS if _is_simulator(cuda) else DEVICE_LIMITS


def _sm_count(cuda) -> int:
    dev = cuda.get_current_device()
    key = getattr(dev, "id", 0)
    if key not in _sm_counts:
        _sm_counts[key] = int(getattr(dev, "MULTIPROCESSOR_COUNT", 1))
    return _sm_counts[key]


def launch_config(cuda, n: int) -> tuple[int, int]:
    """(blocks, threads per block) for ``n`` elements on the current device."""
    lim = _override or _default_limits(cuda)
    blocks = min(-(-n // lim.threads), _sm_count(cuda) * lim.blocks_per_sm, lim.max_blocks or math.inf)
    return max(int(blocks), 1), lim.threads


def require_cuda(where: str):
    """The ``numba.cuda`` module, or CudaUnavailableError saying why it cannot run."""
    try:
        from numba import cuda
    except ImportError as exc:
        raise CudaUnavailableError(f"{where}: numba.cuda cannot be imported ({exc}); "
                                   "install the numba-cuda package") from exc
    if not cuda.is_available():
        raise CudaUnavailableError(
            f"{where}: no CUDA GPU is usable here (numba.cuda.is_available() is False: no NVIDIA driver "
            "or device found). The CPU API works without one; to run the CUDA kernels in Numba's "
            "simulator, set NUMBA_ENABLE_CUDASIM=1 before numba is imported.")
    return cuda


class CudaLoss:
    """A loss's CUDA kernels behind the :class:`~lossgen.runtime.loss.Loss` API, on device arrays."""

    def __init__(self, loss):
        self._loss = loss
        self.name = loss.name
        self.input_names = loss.input_names
        self.diff_names = loss.diff_names
        self.params = loss.params
        self.default_reduction = loss.default_reduction
        self.differentiable = loss.differentiable

    def __repr__(self) -> str:
        return f"<lossgen.CudaLoss {self.name}({', '.join(self.input_names)})>"

    # -- kernels and launches ------------------------------------------------------------
    def _kernels(self):
        module = self._loss.module
        table = _kernel_tables.get(module)
        if table is None:
            if not hasattr(module, "cuda_kernels"):
                raise LossgenError(f"{self.name}: its generated module has no CUDA kernels (generated by an "
                                   "older lossgen): run `lossgen build`")
            from . import cuda_device
            table = _kernel_tables[module] = module.cuda_kernels(cuda_device)
        return table

    def _launch(self, cuda, name, n, args, stream):
        if n == 0:
            return
        blocks, threads = launch_config(cuda, n)
        self._kernels()[name][blocks, threads, stream](*args)

    def _launch_sum(self, cuda, name, n, args, red, dtype, stream):
        """Launch a reducing kernel; the float64 total (divided by n for "mean") as a 0-d
        device array of ``dtype``.  The mean of no elements is nan, as in torch."""
        from .cuda_device import finish_sum
        blocks, threads = launch_config(cuda, max(n, 1))
        partials = cuda.device_array(blocks if n else 0, np.float64, stream=stream)
        if n:
            self._kernels()[name][blocks, threads, stream](*args, partials)
        result = cuda.device_array((), dtype, stream=stream)
        finish_sum[1, threads, stream](partials, float(n) if red == "mean" else 1.0, result)
        return result

    # -- argument handling -------------------------------------------------------------
    def _prepare(self, method, arrays, kwargs, reduction, weight, stream):
        where = f"{self.name}.cuda.{method}"
        cuda = require_cuda(where)
        stream = 0 if stream is None else stream
        kwargs = dict(kwargs)
        xs = bind_device_inputs(cuda, where, self.input_names, arrays, kwargs)
        params = bind_params(where, self.params, kwargs)
        self._loss.module.check_params(*params)
        red = check_reduction(where, self.default_reduction if reduction is None else reduction)
        w = bind_weight(cuda, where, weight, xs[0].shape, xs[0].dtype, stream)
        return _Call(cuda, where, xs, w, params, red, stream)

    def _require_derivatives(self, method):
        if not self.differentiable:
            raise NotDifferentiableError(
                f"{self.name}.cuda.{method}: the loss '{self.name}' is declared non-differentiable "
                "(differentiable = false in its spec); only loss() is available")

    def _names(self, prefix):
        return tuple(f"{prefix}_{n}" for n in self.diff_names)

    @staticmethod
    def _pack(arrays):
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    # -- API ---------------------------------------------------------------------------
    def loss(self, *arrays, reduction=None, weight=None, out=None, stream=None, **kwargs):
        """The loss: a device array for reduction "none", else a 0-d device array."""
        c = self._prepare("loss", arrays, kwargs, reduction, weight, stream)
        if c.red == "none":
            bufs = c.outs(out, 1, ("loss",))
            self._launch(c.cuda, "loss_none", c.n, c.args(bufs) + [bufs[0].flat], c.stream)
            return bufs[0].given
        if out is not None:
            raise TypeError(f"{c.where}: out= applies to reduction='none' only")
        return self._launch_sum(c.cuda, "loss_sum", c.n, c.args([]), c.red, c.dtype, c.stream)

    def _derivatives(self, method, arrays, kwargs, reduction, weight, out, names, stream):
        """Run the derivative kernel ``method`` into one buffer per name; the buffers."""
        self._require_derivatives(method)
        c = self._prepare(method, arrays, kwargs, reduction, weight, stream)
        bufs = c.outs(out, len(names), names)
        self._launch(c.cuda, method, c.n, c.args(bufs) + [c.scale] + [b.flat for b in bufs], c.stream)
        return [b.given for b in bufs]

    def grad(self, *arrays, reduction=None, weight=None, out=None, stream=None, **kwargs):
        """d loss / d input for each differentiable input (consistent with ``reduction``)."""
        bufs = self._derivatives("grad", arrays, kwargs, reduction, weight, out, self._names("grad"), stream)
        return self._pack(bufs)

    def hess(self, *arrays, reduction=None, weight=None, out=None, stream=None, **kwargs):
        """Diagonal second derivative d2 loss / d input2 for each differentiable input."""
        bufs = self._derivatives("hess", arrays, kwargs, reduction, weight, out, self._names("hess"), stream)
        return self._pack(bufs)

    def loss_grad(self, *arrays, reduction=None, weight=None, out=None, stream=None, **kwargs):
        """(loss, grad) in one pass over memory.  ``out=(loss_buf or None, grad_buf[s]...)``."""
        self._require_derivatives("loss_grad")
        c = self._prepare("loss_grad", arrays, kwargs, reduction, weight, stream)
        k = len(self.diff_names)
        names = ("loss",) + self._names("grad")
        if c.red == "none":
            bufs = c.outs(out, k + 1, names)
            self._launch(c.cuda, "loss_grad_none", c.n, c.args(bufs) + [c.scale] + [b.flat for b in bufs],
                         c.stream)
            return bufs[0].given, self._pack([b.given for b in bufs[1:]])
        if out is not None:
            out = list(out)
            if len(out) != k + 1 or out[0] is not None:
                raise TypeError(f"{c.where}: with reduction={c.red!r}, out must be (None, {', '.join(names[1:])})")
            out = out[1:]
        bufs = c.outs(out, k, names[1:])
        total = self._launch_sum(c.cuda, "loss_grad_sum", c.n, c.args(bufs) + [c.scale] + [b.flat for b in bufs],
                                 c.red, c.dtype, c.stream)
        return total, self._pack([b.given for b in bufs])

    def grad_hess(self, *arrays, reduction=None, weight=None, out=None, stream=None, **kwargs):
        """(grad, diagonal hess) in one pass, as gradient boosting needs.
        ``out=(grad_buf, hess_buf)``, each a tuple for several differentiable inputs."""
        k = len(self.diff_names)
        if out is not None and len(out) == 2 and k > 1:
            out = tuple(out[0]) + tuple(out[1])
        bufs = self._derivatives("grad_hess", arrays, kwargs, reduction, weight, out,
                                 self._names("grad") + self._names("hess"), stream)
        return self._pack(bufs[:k]), self._pack(bufs[k:])

    def hess_full(self, *arrays, reduction=None, weight=None, stream=None, **kwargs):
        """The full Hessian per element, cross terms included: a k x k nested tuple of
        device arrays (symmetric entries share one array)."""
        self._require_derivatives("hess_full")
        k = len(self.diff_names)
        if k == 1:
            (h,) = self._derivatives("hess", arrays, kwargs, reduction, weight, None, ("hess",), stream)
            return ((h,),)
        pairs = [(a, b) for a in range(k) for b in range(a, k)]
        bufs = self._derivatives("hess_full", arrays, kwargs, reduction, weight, None,
                                 tuple(f"h{a}{b}" for a, b in pairs), stream)
        table = dict(zip(pairs, bufs))
        return tuple(tuple(table[(min(a, b), max(a, b))] for b in range(k)) for a in range(k))


class _Call:
    """The bound arguments of one call, and the steps every method shares."""

    def __init__(self, cuda, where, xs: list[DeviceArg], w: DeviceArg, params, red, stream):
        self.cuda, self.where, self.xs, self.w, self.params, self.red, self.stream = \
            cuda, where, xs, w, params, red, stream
        self.shape, self.dtype = xs[0].shape, xs[0].dtype
        self.n = int(xs[0].flat.shape[0])
        self.scale = 1.0 / self.n if (red == "mean" and self.n > 0) else 1.0

    def outs(self, out, count, names) -> list[DeviceArg]:
        return out_buffers(self.cuda, self.where, out, count, self.shape, self.dtype, names, self.stream)

    def args(self, bufs: list[DeviceArg]) -> list:
        """Inputs, weight and parameters as the kernels take them, after ordering the
        launch stream behind the arguments' producers and copying any input that
        partially overlaps an output buffer."""
        from .cuda_device import copy
        if not _is_simulator(self.cuda):   # the simulator runs everything synchronously
            order_after(self.cuda, [a.stream for a in self.xs + [self.w] + bufs], self.stream)
        outs = [b.flat for b in bufs]
        flats = []
        for a in self.xs + [self.w]:
            x = a.flat
            if outs and needs_separate_copy(x, outs):
                y = self.cuda.device_array(x.shape[0], self.dtype, stream=self.stream)
                blocks, threads = launch_config(self.cuda, int(x.shape[0]))
                copy[blocks, threads, self.stream](x, y)
                x = y
            flats.append(x)
        return flats + list(self.params)
