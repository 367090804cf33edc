"""GPU benchmark: lossgen's fused CUDA ``loss_grad`` against torch and against memory.

    python benchmarks/gpu_bench.py                          # N = 1e8, float32 and float64
    python benchmarks/gpu_bench.py --n 1e7 --repeat 30 --dtype float32 --loss huber

For a cheap loss (Huber) and a transcendental one (BCE with logits), at each dtype:

* lossgen: ``L.cuda.loss_grad(pred, target, reduction="mean", out=(None, grad))`` — one
  pass: reads pred and target, writes the gradient, sums the loss on the device
  (a fixed-order float64 tree; the result stays on the device);
* torch: ``F.<loss>(x, target)`` forward + ``.backward()`` on CUDA tensors (the usual
  training step: the gradient buffer is released between steps);
* copy: a device-to-device copy kernel over the same arrays, the device's practical
  memory bandwidth: lossgen moves 3 N values (2 read, 1 written), the copy 2 N.

Every timing is the median of ``--repeat`` runs after ``--warmup`` runs (compilation,
allocator warm-up), measured with CUDA events on the default stream.  Printed: medians,
torch / lossgen, lossgen's effective bandwidth and its fraction of the copy's, and
the agreement of the two losses and gradients.  Needs a CUDA GPU; under the simulator
(NUMBA_ENABLE_CUDASIM=1, tiny --n only) it runs the same code and its timings mean nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from numba import cuda

LOSSES = {
    # lossgen catalog name -> (torch.nn.functional name, keyword arguments for both)
    "huber": ("huber_loss", {"delta": 1.0}),
    "bce_with_logits": ("binary_cross_entropy_with_logits", {}),
}
DTYPES = ("float32", "float64")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=lambda s: int(float(s)), default=10**8, help="elements per array (default 1e8)")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per measurement (median; default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--dtype", choices=DTYPES, action="append", help="float32 and/or float64 (default both)")
    p.add_argument("--loss", choices=sorted(LOSSES), action="append", help="default: both")
    p.add_argument("--no-torch", action="store_true", help="skip the torch comparison")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.n < 1 or args.repeat < 1 or args.warmup < 0:
        p.error("--n and --repeat must be positive, --warmup non-negative")
    args.dtype = args.dtype or list(DTYPES)
    args.loss = args.loss or list(LOSSES)
    return args


class Timer:
    """Median wall time of a device function, in milliseconds (CUDA events)."""

    def __init__(self, cuda):
        self.cuda = cuda
        self.simulated = type(cuda.get_current_device()).__module__.startswith("numba.cuda.simulator")

    def median_ms(self, fn, repeat: int, warmup: int) -> float:
        for _ in range(warmup):
            fn()
        self.cuda.synchronize()
        times = []
        for _ in range(repeat):
            if self.simulated:          # the simulator's events record nothing
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
                continue
            start, stop = self.cuda.event(), self.cuda.event()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop))
        return statistics.median(times)


@cuda.jit
def copy(src, dst):
    """dst[i] = src[i]: the bandwidth yardstick (one element per thread when the grid covers the array)."""
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < src.shape[0]:
        dst[i] = src[i]
        i += stride


def device_name(cuda) -> str:
    dev = cuda.get_current_device()
    name = getattr(dev, "name", b"CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    sms = getattr(dev, "MULTIPROCESSOR_COUNT", None)
    return f"{name}" + (f" ({sms} SMs)" if sms else "")


def make_inputs(cuda, torch, loss: str, n: int, dtype: str, seed: int):
    """pred and target on the device (made there when torch is at hand), as Numba arrays
    and, when torch is used, as torch tensors sharing the same memory."""
    if torch is not None:
        g = torch.Generator(device="cuda").manual_seed(seed)
        tdt = getattr(torch, dtype)
        pred = torch.randn(n, device="cuda", dtype=tdt, generator=g) * 2
        target = (torch.rand(n, device="cuda", dtype=tdt, generator=g) if loss == "bce_with_logits"
                  else torch.randn(n, device="cuda", dtype=tdt, generator=g) * 2)
        return cuda.as_cuda_array(pred), cuda.as_cuda_array(target), pred, target
    rng = np.random.default_rng(seed)
    pred = (rng.standard_normal(n) * 2).astype(dtype)
    target = rng.uniform(0, 1, n).astype(dtype) if loss == "bce_with_logits" \
        else (rng.standard_normal(n) * 2).astype(dtype)
    return cuda.to_device(pred), cuda.to_device(target), None, None


def bench(args, out=sys.stdout) -> list[dict]:
    if not cuda.is_available():
        raise SystemExit("gpu_bench: no CUDA device (numba.cuda.is_available() is False)")
    torch = None
    if not args.no_torch:
        try:
            import torch as _torch
            torch = _torch if _torch.cuda.is_available() else None
        except ImportError:
            pass
        if torch is None:
            print("torch with CUDA is not available: the torch column is skipped", file=out)
    timer = Timer(cuda)
    print(f"device: {device_name(cuda)}; N = {args.n:,}; median of {args.repeat} runs after {args.warmup} warm-up"
          + (" (SIMULATOR: timings are meaningless)" if timer.simulated else ""), file=out)
    rows = []
    for dtype in args.dtype:
        copy_ms = measure_copy(timer, args, dtype)
        copy_gbs = 2 * args.n * np.dtype(dtype).itemsize / copy_ms / 1e6
        print(f"copy {dtype}: {copy_ms:.3f} ms = {copy_gbs:.0f} GB/s (read + write)", file=out)
        for name in args.loss:
            row = measure_loss(timer, torch, args, name, dtype)
            row.update(copy_ms=copy_ms, copy_gbs=copy_gbs, of_copy=row["lossgen_gbs"] / copy_gbs)
            rows.append(row)
    print_table(rows, out)
    return rows


def measure_copy(timer: Timer, args, dtype: str) -> float:
    """Median time of the copy kernel over N elements of ``dtype``, one per thread."""
    src = cuda.device_array(args.n, dtype)
    dst = cuda.device_array(args.n, dtype)
    threads = 32 if timer.simulated else 256
    blocks = min(-(-args.n // threads), 2**31 - 1)
    return timer.median_ms(lambda: copy[blocks, threads](src, dst), args.repeat, args.warmup)


def measure_loss(timer: Timer, torch, args, name: str, dtype: str) -> dict:
    """lossgen's loss_grad (and torch's forward + backward) on one set of inputs."""
    import lossgen

    L = lossgen.get(name)
    fname, kw = LOSSES[name]
    pred, target, tpred, ttarget = make_inputs(cuda, torch, name, args.n, dtype, args.seed)
    grad = cuda.device_array(args.n, dtype)

    def run_lossgen():
        return L.cuda.loss_grad(pred, target, reduction="mean", out=(None, grad), **kw)

    ours_ms = timer.median_ms(run_lossgen, args.repeat, args.warmup)
    total, _ = run_lossgen()
    ours_loss = float(total.copy_to_host()[()])
    row = {"loss": name, "dtype": dtype, "n": args.n, "lossgen_ms": ours_ms,
           "lossgen_gbs": 3 * args.n * np.dtype(dtype).itemsize / ours_ms / 1e6}
    if torch is None:
        return row
    fn = getattr(torch.nn.functional, fname)
    x = tpred.detach().clone().requires_grad_(True)

    def run_torch():
        x.grad = None
        fn(x, ttarget, **kw).backward()

    row["torch_ms"] = timer.median_ms(run_torch, args.repeat, args.warmup)
    row["torch_over_lossgen"] = row["torch_ms"] / ours_ms
    x.grad = None
    t_loss = fn(x, ttarget, **kw)
    t_loss.backward()
    row["loss_rel_diff"] = abs(ours_loss - t_loss.item()) / max(abs(t_loss.item()), 1e-300)
    row["grad_max_abs_diff"] = (torch.as_tensor(grad, device="cuda") - x.grad).abs().max().item()
    return row


def print_table(rows: list[dict], out=sys.stdout) -> None:
    head = (f"{'loss':<17}{'dtype':<9}{'lossgen ms':>11}{'torch ms':>10}{'torch/lossgen':>15}"
            f"{'lossgen GB/s':>14}{'of copy':>9}{'loss rel diff':>15}{'grad max diff':>15}")
    print(head, file=out)
    for r in rows:
        torch_ms = f"{r['torch_ms']:.3f}" if "torch_ms" in r else "-"
        ratio = f"{r['torch_over_lossgen']:.2f}x" if "torch_ms" in r else "-"
        ldiff = f"{r['loss_rel_diff']:.1e}" if "loss_rel_diff" in r else "-"
        gdiff = f"{r['grad_max_abs_diff']:.1e}" if "grad_max_abs_diff" in r else "-"
        print(f"{r['loss']:<17}{r['dtype']:<9}{r['lossgen_ms']:>11.3f}{torch_ms:>10}{ratio:>15}"
              f"{r['lossgen_gbs']:>14.0f}{r['of_copy']:>9.2f}{ldiff:>15}{gdiff:>15}", file=out)


def main(argv=None) -> int:
    bench(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
