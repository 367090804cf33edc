"""Result arrays for the calls that allocate them, recycled when nobody holds them.

A new array of 10^7 doubles comes from ``mmap``: the kernel's first touch of each page
costs a page fault and the kernel zeroing it, about as long as the loss+gradient pass
itself (mse: 24 ms with a fresh gradient array, 16 ms writing into an old one).  So the
arrays a call allocates (``loss_grad(pred, target)`` without ``out=``) are kept in a
small pool, and a later call of the same shape and dtype takes one back **only if no
one else refers to it**: CPython's reference count says that the caller has dropped
the result and every view of it (a view, a ``memoryview`` or a torch tensor made by
``torch.from_numpy`` all hold a reference to the array).  A result the caller still
holds is therefore never written again.  This is what PyTorch's caching allocator does
for device memory, with the reference count as the test of "freed".

Small arrays (under ``MIN_BYTES``) are not pooled: allocating them is cheap.  The pool
holds at most ``MAX_BYTES`` in total (oldest arrays dropped first); :func:`clear` empties
it and ``LOSSGEN_RECYCLE=0`` in the environment turns recycling off.
"""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

MIN_BYTES = 1 << 20
MAX_BYTES = 1 << 30
ENABLED = os.environ.get("LOSSGEN_RECYCLE", "1") != "0"

_pool: list[np.ndarray] = []
_lock = threading.Lock()
# references to an array held only by the pool, as sys.getrefcount sees it: the pool's
# list entry, the loop variable and getrefcount's own argument
_FREE_REFS = 3


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised array like ``np.empty(shape, dtype)``, recycled from the pool when
    an unreferenced one of that shape and dtype is there."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if not ENABLED or nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    with _lock:
        for k in range(len(_pool)):
            a = _pool[k]
            if a.shape == shape and a.dtype == dtype and sys.getrefcount(a) == _FREE_REFS:
                del _pool[k]
                _pool.append(a)          # most recently used last
                return a
        a = np.empty(shape, dtype)
        _pool.append(a)
        total = sum(b.nbytes for b in _pool)
        while total > MAX_BYTES and len(_pool) > 1:
            total -= _pool.pop(0).nbytes
        return a


def clear() -> None:
    """Forget every pooled array (the memory is freed once no one else holds it)."""
    with _lock:
        _pool.clear()
