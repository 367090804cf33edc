"""The issue's targets, the results table, and the CPU section of benchmarks/RESULTS.md."""
from __future__ import annotations

import math
import os
import time

import numba

from .measure import DEFAULT_N, Result, _f

BEGIN, END = "<!-- cpu-bench:begin -->", "<!-- cpu-bench:end -->"

BANDWIDTH_BOUND = ("mse", "mae", "huber", "smooth_l1", "quantile", "hinge", "squared_hinge")
TRANSCENDENTAL = ("bce_with_logits", "logistic", "log_cosh", "poisson_nll", "focal")


def targets(r: Result, f64: Result | None = None) -> list[tuple[str, float | None, float, bool | None]]:
    """The issue's targets that apply to ``r``: (label, measured ratio, goal, met).
    ``met`` is None where the peer is missing.  ``f64``: the same loss at float64, for the
    float32 throughput target."""
    out = []

    def add(label, value, goal):
        out.append((label, value, goal, None if value is None else value >= goal))
    if r.name in BANDWIDTH_BOUND:
        add("bandwidth/lossgen", r.ratio(r.bandwidth, r.lossgen_out), 0.8)
        add("torch/lossgen", r.ratio(r.torch, r.lossgen), 8.0)
        add("sklearn/lossgen", r.ratio(r.sklearn, r.lossgen), 1.5)
        if r.dtype == "float32" and f64 is not None:
            add("f64 time/f32 time", r.ratio(f64.lossgen_out, r.lossgen_out), 1.5)
    elif r.name in TRANSCENDENTAL:
        add("torch/lossgen", r.ratio(r.torch, r.lossgen), 1.5)
        add("sklearn/lossgen", r.ratio(r.sklearn, r.lossgen), 1.2)
    return out


def table_rows(results: list[Result]) -> tuple[list[str], list[list[str]]]:
    header = ["loss", "dtype", "lossgen", "lossgen out=", "grad_hess", "bandwidth", "numpy", "torch",
              "sklearn", "sklearn g+h", "bw/lg", "np/lg", "torch/lg", "skl/lg", "skl gh/gh", "targets"]
    f64 = {r.name: r for r in results if r.dtype == "float64"}
    rows = []
    for r in results:
        t = targets(r, f64.get(r.name) if r.dtype == "float32" else None)
        verdict = ", ".join(f"{lab.split('/')[0]} {'met' if m else ('missed' if m is False else 'n/a')}"
                            for lab, _, _, m in t)
        rows.append([r.name, r.dtype, _f(r.lossgen), _f(r.lossgen_out), _f(r.grad_hess), _f(r.bandwidth),
                     _f(r.numpy), _f(r.torch), _f(r.sklearn), _f(r.sklearn_gh),
                     _f(r.ratio(r.bandwidth, r.lossgen_out), "{:.2f}"), _f(r.ratio(r.numpy, r.lossgen), "{:.1f}"),
                     _f(r.ratio(r.torch, r.lossgen), "{:.1f}"), _f(r.ratio(r.sklearn, r.lossgen), "{:.2f}"),
                     _f(r.ratio(r.sklearn_gh, r.grad_hess), "{:.2f}"), verdict or ""])
    return header, rows


def markdown_table(results: list[Result]) -> str:
    header, rows = table_rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return (f"{os.cpu_count()} CPUs, numba {numba.__version__} with {numba.get_num_threads()} threads, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def results_section(results: list[Result], command: str) -> str:
    """The generated part of RESULTS.md's CPU section."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    n = results[0].n if results else DEFAULT_N
    return "\n".join([
        BEGIN,
        f"Measured {stamp} with `{command}`: N = {n:.0e}, {machine_line()}.",
        "Times are medians in ms; ratios are peer time / lossgen time (> 1: lossgen faster),",
        "`bw/lg` is bandwidth-reference time / lossgen `out=` time (1.0 = at the memory roofline).",
        "",
        markdown_table(results),
        END,
    ])


def write_results(path, results: list[Result], command: str) -> None:
    """Replace the generated block of the CPU section in ``path`` (RESULTS.md), keeping the
    rest of the file (the GPU section, the hand-written notes); append it if absent."""
    from pathlib import Path
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = results_section(results, command)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## CPU: fused kernels against NumPy, torch and scikit-learn\n\n" + block + "\n"
    path.write_text(text)
