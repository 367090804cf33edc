"""Costs outside the kernels: the Python work of one call at small N, and a fresh
process's import of lossgen and first call."""
from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np

from .peers import bench_inputs

class _NoKernels:
    """A generated module's metadata with every kernel replaced by a no-op, so that a
    :class:`Loss` around it measures the Python work of a call and nothing else."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, attr):
        value = getattr(self._module, attr)
        if attr in ("loss_none", "loss_sum", "grad", "loss_grad_none", "loss_grad_sum", "hess",
                    "grad_hess", "hess_full"):
            return _no_kernel
        return value


def _no_kernel(*args):
    return 0.0


def _per_call_us(fn, calls: int) -> float:
    fn()
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return 1e6 * best


def call_overhead(name: str = "huber", n: int = 1000, calls: int = 2000) -> dict:
    """Microseconds per ``loss_grad(pred, target, reduction="mean")`` call at ``n``
    elements (best of 5 loops of ``calls``): the whole call, the bare kernel, and the
    wrapper alone (the same :class:`Loss` code around no-op kernels)."""
    import lossgen
    from ..runtime.loss import Loss
    L = lossgen.get(name)
    xs = bench_inputs(L.spec, n, np.float64, 0)
    grads = tuple(np.empty(n) for _ in L.diff_names)
    params = [v for _, v in L.params]
    bare = Loss(_NoKernels(L.module))
    kernel = L.module.loss_grad_sum
    return {
        "loss_grad": _per_call_us(lambda: L.loss_grad(*xs, reduction="mean"), calls),
        "loss_grad out=": _per_call_us(lambda: L.loss_grad(*xs, reduction="mean", out=(None,) + grads), calls),
        "kernel alone": _per_call_us(lambda: kernel(*xs, np.empty(0), *params, 1.0 / n, *grads), calls),
        "wrapper alone": _per_call_us(lambda: bare.loss_grad(*xs, reduction="mean"), calls),
        "wrapper alone, out=": _per_call_us(lambda: bare.loss_grad(*xs, reduction="mean", out=(None,) + grads),
                                            calls),
    }


_FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
import lossgen
L = lossgen.get({name!r})
t1 = time.perf_counter()
x = np.linspace(-3.0, 3.0, {n})
L.loss_grad(x, x[::-1].copy(), reduction="mean")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def startup_seconds(name: str = "huber", n: int = 1000, runs: int = 3) -> dict:
    """A fresh Python process: seconds to ``import lossgen`` and ``get`` a catalog loss,
    then for its first ``loss_grad`` call; the median of ``runs`` processes after one
    that warms Numba's on-disk cache (the interpreter's own start is not counted)."""
    code = _FIRST_CALL.format(name=name, n=n)
    samples = []
    for _ in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        samples.append(tuple(float(v) for v in out.split()))
    warm = sorted(samples[1:], key=sum)[len(samples[1:]) // 2]
    return {"import + get": warm[0], "first call": warm[1], "total": warm[0] + warm[1],
            "cold cache total": sum(samples[0])}
