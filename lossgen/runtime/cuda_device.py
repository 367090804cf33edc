"""The device side of lossgen's CUDA kernels: what a generated module's ``cuda_kernels``
is given to build its kernels with.

This module imports ``numba.cuda`` and is itself imported only when a kernel is first
needed (by :mod:`lossgen.runtime.cuda`), never by importing lossgen or a generated
module.

* :func:`device` — the CUDA device function compiled from an ``@numba.njit`` function's
  Python source (``f.py_func``).  The point functions of a generated module and the
  stable primitives of :mod:`lossgen.runtime.scalar` are written once, as scalar Python;
  the CPU kernels call their ``njit`` compilations and the CUDA kernels call these
  ``cuda.jit(device=True)`` compilations of the very same function objects' code.
  Every ``njit`` function the source calls (``sign``, ``softplus``, ...) is re-bound to
  its own device version, so a device function never refers to CPU code.
* :func:`grid_start`, :func:`grid_stride` — bounds of a grid-stride loop.
* :func:`block_sum` — the per-block step of a deterministic sum: a fixed-order tree
  over the block's threads in float64 shared memory; thread 0 writes the block's total.
* :data:`finish_sum` — the second step: one block sums the per-block totals in a fixed
  order and writes ``total / divisor`` into a 0-d result array (cast to its dtype).
* :data:`copy` — an elementwise copy (used to separate an input that partially
  overlaps an output buffer).

No floating-point atomics anywhere: for a given array length and launch
configuration every sum is computed in the same order, so repeated runs agree bit for
bit.
"""
from __future__ import annotations

import dis
import types

import numba
from numba import cuda
from numba.core.registry import CPUDispatcher

#: Largest block size the tree reductions support (their shared buffer's length).
#: Block sizes must be powers of two.
MAX_THREADS = 1024

kernel = cuda.jit

_DEVICE: dict = {}


def device(f):
    """The CUDA device function compiled from the ``njit`` function ``f``'s source.

    ``f.py_func``'s code object is reused as is; only the globals it sees differ: each
    name it loads that holds an ``njit`` function is bound to that function's device
    version (built here, recursively, once per function and shared by all losses).
    """
    try:
        return _DEVICE[f]
    except KeyError:
        pass
    if not isinstance(f, CPUDispatcher):
        raise TypeError(f"device(): expected a numba.njit function, got {type(f).__name__}")
    py = f.py_func
    scope = dict(py.__globals__)
    for name in _global_names(py.__code__):
        value = scope.get(name)
        if isinstance(value, CPUDispatcher) and value is not f:
            scope[name] = device(value)
    clone = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, py.__closure__)
    clone.__qualname__ = py.__qualname__
    clone.__doc__ = py.__doc__
    clone.__module__ = py.__module__
    _DEVICE[f] = result = cuda.jit(device=True)(clone)
    return result


def _global_names(code) -> set[str]:
    """Names the code object loads as globals (not attribute names such as log1p in
    math.log1p), including those of nested code objects."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


@cuda.jit(device=True)
def grid_start():
    """Index of this thread in the 1-d grid: the first element it handles."""
    return cuda.grid(1)


@cuda.jit(device=True)
def grid_stride():
    """Number of threads in the grid: the step of a grid-stride loop."""
    return cuda.gridsize(1)


@cuda.jit(device=True)
def block_total(value):
    """Sum of ``value`` over the threads of this block (blockDim.x a power of two).

    Pairwise tree in float64 shared memory, always in the same order.  The total is
    valid in thread 0; one call per kernel (the shared buffer is reused).
    """
    buf = cuda.shared.array(MAX_THREADS, numba.float64)
    t = cuda.threadIdx.x
    buf[t] = value
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            buf[t] += buf[t + s]
        cuda.syncthreads()
        s //= 2
    return buf[0]


@cuda.jit(device=True)
def block_sum(value, partials):
    """``partials[blockIdx.x]`` = the sum of ``value`` over this block's threads."""
    total = block_total(value)
    if cuda.threadIdx.x == 0:
        partials[cuda.blockIdx.x] = total


@cuda.jit
def finish_sum(partials, divisor, result):
    """``result[()] = sum(partials) / divisor``, by one block, in a fixed order.

    Thread t adds partials t, t + blockDim.x, ... in turn; the block's threads are
    then summed by :func:`block_total`.  Float64 throughout; the store casts to the
    result's dtype.
    """
    t = cuda.threadIdx.x
    acc = 0.0
    for j in range(t, partials.shape[0], cuda.blockDim.x):
        acc += partials[j]
    total = block_total(acc)
    if t == 0:
        result[()] = total / divisor


@cuda.jit
def copy(src, dst):
    """``dst[i] = src[i]`` for every i (1-d arrays of one length; any strides)."""
    for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
        dst[i] = src[i]
