"""Softmax cross-entropy forward+backward: lossgen's generated kernels vs torch CPU.

For each (n, k): the median wall time of ``loss_grad`` (one fused call: mean loss and its
gradient in the logits) and of torch's ``F.cross_entropy`` forward plus ``backward()``,
on the same float32 logits and int64 class indices, and their ratio (torch / lossgen:
above 1, lossgen is faster).  Times are medians of ``--repeat`` runs after one warm-up;
compare ratios measured in one run, never absolute times across machines.

    python benchmarks/structured_bench.py [--sizes 1000000x10,10000x10000] [--repeat 7] [--dtype float32]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(n: int, k: int, repeat: int, dtype: str = "float32") -> dict:
    """Median seconds of lossgen and torch CE forward+backward at (n, k), and the ratio."""
    import torch
    import torch.nn.functional as F

    import lossgen
    ce = lossgen.get("softmax_cross_entropy")
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(n, k)).astype(dtype)
    target = rng.integers(0, k, size=n)
    x_t = torch.from_numpy(logits)
    t_t = torch.from_numpy(target)

    def ours():
        return ce.loss_grad(logits, target, reduction="mean")

    def theirs():
        x = x_t.detach().requires_grad_(True)
        F.cross_entropy(x, t_t, reduction="mean").backward()
        return x.grad

    _, g_ours = ours()
    g_torch = theirs()
    err = float(np.max(np.abs(g_ours - g_torch.numpy())))
    t_ours = _median_time(ours, repeat)
    t_torch = _median_time(theirs, repeat)
    return {"n": n, "k": k, "lossgen_s": t_ours, "torch_s": t_torch, "ratio": t_torch / t_ours,
            "max_grad_diff": err}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000000x10,10000x10000", help="comma-separated NxK")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = ap.parse_args(argv)
    import torch
    print(f"softmax cross-entropy forward+backward, {args.dtype}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), median of {args.repeat}")
    print(f"{'n':>9} {'k':>7} {'lossgen ms':>11} {'torch ms':>10} {'torch/lossgen':>14} {'max |dgrad|':>12}")
    for item in args.sizes.split(","):
        n, k = (int(float(v)) for v in item.lower().split("x"))
        r = bench(n, k, args.repeat, args.dtype)
        print(f"{r['n']:>9} {r['k']:>7} {1e3 * r['lossgen_s']:>11.2f} {1e3 * r['torch_s']:>10.2f} "
              f"{r['ratio']:>13.2f}x {r['max_grad_diff']:>12.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
