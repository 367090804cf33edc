"""Per-kernel timing split: where a loss's time goes, and what its compensated forms cost.

    python benchmarks/kernel_split.py poisson_nll bce_with_logits --n 1e6

For each loss: the median time (ms) of each generated array kernel called directly
(no Python wrapper), the number of double-double steps in its point function, and the
Numba calls it makes (runtime primitives and double-double helpers), from the
generated module's own source.  Used for the notes of benchmarks/RESULTS.md.
"""
import argparse
import inspect
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lossgen  # noqa: E402
from lossgen.bench import bench_inputs, median_ms  # noqa: E402

KERNELS = (("loss_sum", "point_loss", 0), ("grad", "point_grad", 1), ("hess", "point_hess", 1),
           ("loss_grad_sum", "point_loss_grad", 1), ("grad_hess", "point_grad_hess", 2))
CALL = re.compile(r"\b(dd_\w+|two_\w+|softplus|sigmoid|log_sigmoid|logcosh|logaddexp|xlogy|log1pmx|expm1mx|"
                  r"math\.\w+)\(")


def calls(fn) -> str:
    src = inspect.getsource(fn.py_func)
    found = CALL.findall(src)
    return ", ".join(f"{c} x{found.count(c)}" for c in sorted(set(found))) or "(arithmetic only)"


def split(name: str, n: int, repeat: int) -> None:
    L = lossgen.get(name)
    m = L.module
    xs = bench_inputs(L.spec, n, np.float64)
    w = np.empty(0)
    ps = [v for _, v in L.params]
    k = len(L.diff_names)
    print(f"\n{name} (N = {n:g}, float64)")
    for kernel, point, outs in KERNELS:
        bufs = [np.empty(n) for _ in range(k * outs)]
        fn = getattr(m, kernel)
        args = (*xs, w, *ps) + (() if kernel == "loss_sum" else (1.0 / n,)) + tuple(bufs)
        t = median_ms(lambda: fn(*args), repeat)
        print(f"  {kernel:<14} {t:9.1f} ms   {point}: {calls(getattr(m, point))}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--n", type=lambda s: int(float(s)), default=10**6)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    for name in a.names:
        split(name, a.n, a.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
