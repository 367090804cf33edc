"""CPU benchmark of the catalog kernels against NumPy, torch, scikit-learn and memory.

For one loss and one dtype, every measurement runs on the same arrays (N elements per
input, drawn from each input's domain), timed after one warm-up call:

* ``lossgen``      ``L.loss_grad(*x, reduction="mean")``, as a user calls it (allocates the gradient);
* ``lossgen_out``  the same with ``out=(None, grad_buffers...)``: no allocation;
* ``grad_hess``    ``L.grad_hess(*x, reduction="mean", out=(grad, hess))``;
* ``bandwidth``    a trivial parallel Numba kernel moving the bytes ``lossgen_out`` moves
                   (reads every input, writes one array per differentiable input, sums a
                   float64 total): the memory roofline of a fused loss+gradient;
* ``bandwidth_gh`` the same for ``grad_hess`` (two arrays written per differentiable input);
* ``numpy``        the spec's mathematics (its ``numeric`` form when it has one) and its
                   derivative, ``sympy.lambdify``-ed to NumPy: mean loss and gradient / N;
* ``torch``        torch CPU forward (``reduction="mean"``) + ``.backward()`` on tensors
                   sharing the arrays' memory, where torch has the loss (``torch.nn.functional``
                   named by the spec's ``torch`` key, or a few losses in torch ops, labelled so);
* ``sklearn`` / ``sklearn_gh``  ``sklearn._loss`` ``loss_gradient`` / ``gradient_hessian``
                   with preallocated outputs and ``n_threads`` threads, where it has the loss
                   (it writes the elementwise loss, N more values than lossgen's fused sum).

Every peer's result is checked against lossgen's (``agree``: the largest relative
difference of the loss and of the gradient, scaled as each peer defines them).
Every figure is the median of ``repeat`` samples, a sample being the mean of a few calls
when one call is shorter than ``SAMPLE_S`` (see :func:`median_ms`).
No timing is ever asserted: the figures depend on the machine and its load.
"""
from __future__ import annotations

from .measure import DEFAULT_N, Result, bench_one, benchmarkable, compare, run
from .peers import Peer, bench_inputs, numpy_peer, sklearn_peer, torch_peer
from .report import BEGIN, END, machine_line, markdown_table, results_section, table_rows, targets, write_results
from .startup import call_overhead, startup_seconds
from .timing import _move_2_1, _move_2_2, _move_rows, bandwidth_call, median_ms

__all__ = ["BEGIN", "END", "DEFAULT_N", "Peer", "Result", "bandwidth_call", "bench_inputs", "bench_one",
           "benchmarkable", "call_overhead", "compare", "main", "markdown_table", "median_ms", "numpy_peer",
           "results_section", "run", "run_from_args", "sklearn_peer", "startup_seconds", "table_rows", "targets", "torch_peer",
           "write_results", "_move_2_1", "_move_2_2", "_move_rows"]


def main(argv=None, prog="cpu_bench") -> int:
    """``lossgen bench`` / ``benchmarks/cpu_bench.py``."""
    import argparse
    p = argparse.ArgumentParser(prog=prog, description="CPU benchmark of the catalog kernels "
                                "against NumPy, torch, scikit-learn and a bandwidth reference")
    from ..cli import add_bench_arguments
    add_bench_arguments(p)
    return run_from_args(p.parse_args(argv), prog)


def command_line(args, prog: str) -> str:
    """The command that reproduces a run (without --write), for RESULTS.md."""
    parts = [prog, *args.names, "--n", f"{args.n:g}", "--repeat", str(args.repeat)]
    for d in args.dtype or ():
        parts += ["--dtype", d]
    parts += [f"--no-{x}" for x in ("numpy", "torch", "sklearn") if getattr(args, f"no_{x}")]
    return " ".join(parts)


def run_from_args(args, command: str) -> int:
    import sys
    if args.n < 1 or args.repeat < 1:
        print(f"error: --n and --repeat must be positive, got {args.n} and {args.repeat}", file=sys.stderr)
        return 2
    peers = tuple(x for x in ("numpy", "torch", "sklearn") if not getattr(args, f"no_{x}"))
    try:
        names = benchmarkable(args.names)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(machine_line(), flush=True)
    results = run(names, n=args.n, dtypes=tuple(args.dtype or ("float64", "float32")), repeat=args.repeat,
                  peers=peers, log=lambda s: print(s, flush=True))
    header, rows = table_rows(results)
    widths = [max(len(str(r[c])) for r in rows + [header]) for c in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    overhead, startup = call_overhead(), startup_seconds()
    print("per call at N = 1000 (huber, float64): " + ", ".join(f"{k} {v:.1f} us" for k, v in overhead.items()))
    print("fresh process: " + ", ".join(f"{k} {v:.2f} s" for k, v in startup.items()))
    if args.write:
        write_results(args.write, results, command_line(args, command))
        print(f"wrote {args.write}")
    return 0
