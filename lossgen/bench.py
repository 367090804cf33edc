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

import dataclasses
import math
import os
import statistics
import time
from typing import Callable

import numba
import numpy as np
from numba import prange

# ----------------------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------------------


SAMPLE_S = 0.06   # each timed sample lasts at least this long (several calls when they are fast)
BUDGET_S = 4.0    # and the samples of one measurement at most about this long (at least one)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median over ``repeat`` samples of the mean wall time of ``fn()`` in milliseconds,
    after one untimed warm-up call.  A sample runs ``fn`` k times, k chosen so that it
    lasts about SAMPLE_S (at most 10 calls): on this shared 2-core machine a single
    10 ms call is quantised by the scheduler's 4 ms tick.  At most about BUDGET_S is
    spent on the samples (one at least)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    k = max(1, min(10, math.ceil(SAMPLE_S / max(first, 1e-9))))
    # a kernel taking seconds per call (double-double forms at N = 1e7) gets fewer
    # samples, so that a run over the catalog stays within minutes
    repeat = max(1, min(repeat, int(BUDGET_S / max(first * k, 1e-9))))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        times.append((time.perf_counter() - t0) / k)
    return 1e3 * statistics.median(times)


# ----------------------------------------------------------------------------------------
# the bandwidth reference
# ----------------------------------------------------------------------------------------

# The sums carry fastmath={"reassoc"} as the generated sum kernels do (without it LLVM
# cannot vectorise a float reduction and the loop is latency-bound, not memory-bound).
@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _move_2_1(a, b, out):
    total = 0.0
    for i in prange(a.shape[0]):
        v = a[i] - b[i]
        out[i] = v
        total += v
    return total


@numba.njit(parallel=True, cache=True)
def _move_2_2(a, b, out1, out2):
    for i in prange(a.shape[0]):
        v = a[i] - b[i]
        out1[i] = v
        out2[i] = v


@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _move_rows(src, dst):
    """Read every row of ``src`` (k_in, n), write every row of ``dst`` (k_out, n), sum."""
    total = 0.0
    for i in prange(src.shape[1]):
        v = 0.0
        for j in range(src.shape[0]):
            v += src[j, i]
        for j in range(dst.shape[0]):
            dst[j, i] = v
        total += v
    return total


def bandwidth_call(n_in: int, n_out: int, n: int, dtype, rng, with_sum: bool = True) -> Callable[[], object]:
    """A call moving ``n_in`` input streams and ``n_out`` output streams of ``n`` values."""
    if n_in == 2 and n_out == 1 and with_sum:
        a, b = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        out = np.empty(n, dtype)
        return lambda: _move_2_1(a, b, out)
    if n_in == 2 and n_out == 2 and not with_sum:
        a, b = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        o1, o2 = np.empty(n, dtype), np.empty(n, dtype)
        return lambda: _move_2_2(a, b, o1, o2)
    src = rng.standard_normal((n_in, n)).astype(dtype)
    dst = np.empty((n_out, n), dtype)
    return lambda: _move_rows(src, dst)


# ----------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------

def bench_inputs(spec, n: int, dtype, seed: int = 0) -> list[np.ndarray]:
    """One C-contiguous array per input, drawn from its domain (lossgen.verify.points), so
    that every branch of a piecewise loss is taken and no peer meets its clamps."""
    from .verify.points import sample_domain
    rng = np.random.default_rng(seed)
    out = []
    for inp in spec.inputs:
        x = sample_domain(inp.domain, rng, n)
        if spec.name == "poisson_nll" and inp.name == "target":
            x = rng.poisson(3.0, n).astype(np.float64)   # counts
        if spec.name == "poisson_nll" and inp.name == "pred":
            x = rng.normal(0.5, 1.0, n)                    # log-rates of moderate size
        out.append(np.ascontiguousarray(x, dtype=dtype))
    return out


# ----------------------------------------------------------------------------------------
# peers
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class Peer:
    """A peer's fused loss+gradient (and grad+hess) call on prepared inputs, and how to
    compare its results with lossgen's: ``loss_value()`` the scalar mean loss in lossgen's
    definition, ``grads()`` the gradient(s) of lossgen's mean loss."""
    label: str
    call: Callable[[], object]
    loss_value: Callable[[], float]
    grads: Callable[[], list[np.ndarray]]
    call_gh: Callable[[], object] | None = None


def numpy_peer(L, xs, params: dict) -> Peer:
    """The spec's mathematics in NumPy (lambdified), mean loss and gradient / N."""
    import sympy as sp

    from .verify.floats import float_function
    spec = L.spec
    expr = spec.extra.get("numeric")
    expr = spec.loss if expr is None else expr
    args = tuple(i.symbol for i in spec.inputs) + tuple(p.symbol for p in spec.params)
    f = float_function(expr, args)
    dfs = [float_function(sp.diff(expr, i.symbol), args) for i in spec.inputs if i.name in L.diff_names]
    pv = [params[p.name] for p in spec.params]
    n = xs[0].shape[0]
    state = {}

    def call():
        # float_function evaluates in float64 (as NumPy users do for accuracy);
        # the results are cast back to the input dtype, as lossgen returns them
        state["loss"] = float(np.mean(f(*xs, *pv)))
        state["grads"] = [(df(*xs, *pv) / n).astype(xs[0].dtype) for df in dfs]
        return state["loss"]
    return Peer("numpy", call, lambda: state["loss"], lambda: state["grads"])


def _torch_ops(name):
    """Losses torch.nn.functional lacks, in torch ops (forward (tensors, params) -> elementwise)."""
    import torch
    F = torch.nn.functional

    def focal(t, p):  # torchvision.ops.sigmoid_focal_loss, verbatim
        x, y = t
        prob = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = prob * y + (1 - prob) * (1 - y)
        loss = ce * ((1 - p_t) ** p["gamma"])
        return (p["alpha"] * y + (1 - p["alpha"]) * (1 - y)) * loss

    def log_cosh(t, p):  # stable: |r| + softplus(-2|r|) - log 2
        r = (t[0] - t[1]).abs()
        return r + F.softplus(-2.0 * r) - math.log(2.0)

    def hinge(t, p):
        return F.relu(1.0 - t[0] * t[1])

    def squared_hinge(t, p):
        return F.relu(1.0 - t[0] * t[1]) ** 2

    def quantile(t, p):
        r = t[1] - t[0]
        return torch.maximum(p["tau"] * r, (p["tau"] - 1.0) * r)

    return {"focal": focal, "log_cosh": log_cosh, "hinge": hinge, "squared_hinge": squared_hinge,
            "quantile": quantile}.get(name)


def _torch_kwargs(name, params):
    import torch
    if name == "huber":
        return {"delta": params["delta"]}
    if name == "smooth_l1":
        return {"beta": params["beta"]}
    if name == "poisson_nll":
        return {"log_input": True, "full": bool(params["full"])}
    if name == "gaussian_nll":
        return {"full": bool(params["full"]), "eps": params["eps"]}
    if name == "bce_with_logits" and params["pos_weight"] != 1.0:
        return {"pos_weight": torch.tensor(params["pos_weight"])}
    return {}


def torch_peer(L, xs, params: dict) -> Peer | None:
    """torch CPU forward (mean) + backward, or None where torch lacks the loss."""
    try:
        import torch
    except ImportError:
        return None
    F = torch.nn.functional
    torch_name = L.spec.torch
    ops = _torch_ops(L.name)
    if torch_name is None and ops is None:
        return None
    if torch_name is not None:
        fn = getattr(F, torch_name)
        kw = _torch_kwargs(L.name, params)
        forward = lambda t: fn(*t, reduction="mean", **kw)   # noqa: E731
        label = f"torch F.{torch_name}"
    else:
        forward = lambda t: ops(t, params).mean()           # noqa: E731
        label = "torch (ops)"
    state = {}

    def call():
        t = [torch.from_numpy(x).requires_grad_(n in L.diff_names) for x, n in zip(xs, L.input_names)]
        loss = forward(t)
        loss.backward()
        state["loss"], state["t"] = loss, t
        return loss

    def grads():
        return [t.grad.numpy() for t, n in zip(state["t"], L.input_names) if n in L.diff_names]
    return Peer(label, call, lambda: float(state["loss"].detach()), grads)


# sklearn._loss classes: lossgen name -> (class name, params -> kwargs, y transform,
# raw transform, (loss factor, lossgen grad from sklearn's (grad, pred)))
_IDENT = lambda v: v                              # noqa: E731
_PM1_TO_01 = lambda t: (t + 1.0) / 2.0            # noqa: E731  labels -1/+1 -> 0/1


def _log_link_grad(factor):
    # sklearn differentiates in raw = log(pred): d/dpred = d/draw / pred
    return lambda g, pred: factor * g / pred


SKLEARN = {
    "mse": ("HalfSquaredError", lambda p: {}, _IDENT, _IDENT, 2.0, lambda g, pred: 2.0 * g),
    "mae": ("AbsoluteError", lambda p: {}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "quantile": ("PinballLoss", lambda p: {"quantile": p["tau"]}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "huber": ("HuberLoss", lambda p: {"delta": p["delta"]}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "bce_with_logits": ("HalfBinomialLoss", lambda p: {}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "logistic": ("HalfBinomialLoss", lambda p: {}, _PM1_TO_01, _IDENT, 1.0, lambda g, pred: g),
    "exponential": ("ExponentialLoss", lambda p: {}, _PM1_TO_01, _IDENT, 1.0, lambda g, pred: g),
    "poisson_nll": ("HalfPoissonLoss", lambda p: {}, _IDENT, _IDENT, 1.0, lambda g, pred: g),
    "gamma_deviance": ("HalfGammaLoss", lambda p: {}, _IDENT, np.log, None, _log_link_grad(2.0)),
    "tweedie_deviance": ("HalfTweedieLoss", lambda p: {"power": p["power"]}, _IDENT, np.log, None,
                         _log_link_grad(2.0)),
}


def sklearn_peer(L, xs, params: dict, n_threads: int) -> Peer | None:
    """``sklearn._loss`` loss_gradient / gradient_hessian, or None where it lacks the loss
    (or at parameters it does not model, e.g. poisson_nll full=1, bce pos_weight != 1)."""
    if L.name not in SKLEARN:
        return None
    if (L.name == "poisson_nll" and params["full"]) or (L.name == "bce_with_logits" and params["pos_weight"] != 1.0):
        return None
    try:
        from sklearn._loss import loss as sk
    except ImportError:
        return None
    cls, kw, ytf, rawtf, loss_factor, grad_of = SKLEARN[L.name]
    obj = getattr(sk, cls)(**kw(params))
    pred, target = xs
    y, raw = np.ascontiguousarray(ytf(target)), np.ascontiguousarray(rawtf(pred))
    loss_out, grad_out, hess_out = (np.empty_like(pred) for _ in range(3))
    n = pred.shape[0]

    def call():
        return obj.loss_gradient(y, raw, loss_out=loss_out, gradient_out=grad_out, n_threads=n_threads)

    def call_gh():
        return obj.gradient_hessian(y, raw, gradient_out=grad_out, hessian_out=hess_out, n_threads=n_threads)

    def loss_value():
        # half-deviances differ from lossgen's deviances by a constant per element: no
        # comparable loss value there (nan: the gradient is compared)
        return float(loss_factor * np.mean(loss_out, dtype=np.float64)) if loss_factor else math.nan

    def grads():
        call()
        return [(grad_of(grad_out.astype(np.float64), pred.astype(np.float64)) / n).astype(pred.dtype)]
    return Peer(f"sklearn {cls}", call, loss_value, grads, call_gh)


# ----------------------------------------------------------------------------------------
# one loss, one dtype
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    """Medians (ms) of one loss at one dtype; None where a peer lacks the loss."""
    name: str
    dtype: str
    n: int
    lossgen: float
    lossgen_out: float
    grad_hess: float | None
    bandwidth: float
    bandwidth_gh: float | None
    numpy: float | None = None
    torch: float | None = None
    torch_label: str = ""
    sklearn: float | None = None
    sklearn_gh: float | None = None
    sklearn_label: str = ""
    agree: dict = dataclasses.field(default_factory=dict)   # peer -> (loss rel diff, grad rel diff)

    def ratio(self, slow: float | None, fast: float | None) -> float | None:
        return None if (slow is None or fast is None or fast <= 0) else slow / fast


def _rel_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b))) / scale


def compare(L, xs, params, peer: Peer) -> tuple[float, float]:
    """(relative difference of the mean loss, of the gradient), lossgen against ``peer``,
    after one call of each."""
    loss, grads = L.loss_grad(*xs, reduction="mean", **params)
    grads = grads if isinstance(grads, tuple) else (grads,)
    peer.call()
    pl = peer.loss_value()
    dl = math.nan if math.isnan(pl) else abs(float(loss) - pl) / max(abs(pl), 1e-300)
    dg = max(_rel_diff(g, pg) for g, pg in zip(grads, peer.grads()))
    return dl, dg


def bench_one(name: str, dtype, n: int, repeat: int = 5, n_threads: int | None = None,
              peers: tuple[str, ...] = ("numpy", "torch", "sklearn"), seed: int = 0) -> Result:
    """Measure one catalog loss at one dtype; see the module docstring."""
    import lossgen
    L = lossgen.get(name)
    dtype = np.dtype(dtype)
    n_threads = n_threads or numba.get_num_threads()
    xs = bench_inputs(L.spec, n, dtype, seed)
    params = dict(L.params)
    k_in, k_d = len(xs), len(L.diff_names)
    grads_out = tuple(np.empty(n, dtype) for _ in range(k_d))
    hess_out = tuple(np.empty(n, dtype) for _ in range(k_d))
    gh_out = (grads_out[0], hess_out[0]) if k_d == 1 else (grads_out, hess_out)
    rng = np.random.default_rng(seed + 1)

    r = Result(
        name=name, dtype=dtype.name, n=n,
        lossgen=median_ms(lambda: L.loss_grad(*xs, reduction="mean"), repeat),
        lossgen_out=median_ms(lambda: L.loss_grad(*xs, reduction="mean", out=(None,) + grads_out), repeat),
        grad_hess=median_ms(lambda: L.grad_hess(*xs, reduction="mean", out=gh_out), repeat),
        bandwidth=median_ms(bandwidth_call(k_in, k_d, n, dtype, rng), repeat),
        bandwidth_gh=median_ms(bandwidth_call(k_in, 2 * k_d, n, dtype, rng, with_sum=False), repeat),
    )
    if "numpy" in peers:
        p = numpy_peer(L, xs, params)
        r.numpy = median_ms(p.call, max(1, min(repeat, 3)))
        r.agree["numpy"] = compare(L, xs, params, p)
    if "torch" in peers:
        p = torch_peer(L, xs, params)
        if p is not None:
            r.torch, r.torch_label = median_ms(p.call, repeat), p.label
            r.agree["torch"] = compare(L, xs, params, p)
    if "sklearn" in peers:
        p = sklearn_peer(L, xs, params, n_threads)
        if p is not None:
            r.sklearn, r.sklearn_label = median_ms(p.call, repeat), p.label
            r.sklearn_gh = median_ms(p.call_gh, repeat)
            r.agree["sklearn"] = compare(L, xs, params, p)
    return r


# ----------------------------------------------------------------------------------------
# targets (issue 6) and the report
# ----------------------------------------------------------------------------------------

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


def _f(v, fmt="{:.1f}"):
    return "—" if v is None else fmt.format(v)


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


# ----------------------------------------------------------------------------------------
# a run over the catalog, and benchmarks/RESULTS.md
# ----------------------------------------------------------------------------------------

DEFAULT_N = 10**7
BEGIN, END = "<!-- cpu-bench:begin -->", "<!-- cpu-bench:end -->"


def benchmarkable(names=None) -> list[str]:
    """The elementwise, differentiable catalog losses (all of them when ``names`` is None);
    an unknown or unbenchmarkable name is a ValueError naming it."""
    import lossgen
    from .catalog import spec_for
    known = lossgen.catalog()
    ok = [n for n in known if spec_for(n).is_elementwise and spec_for(n).differentiable]
    if not names:
        return ok
    for n in names:
        if n not in known:
            raise ValueError(f"bench: no catalog loss named '{n}' (see `lossgen list`)")
        if n not in ok:
            raise ValueError(f"bench: '{n}' has no loss_grad kernel to benchmark (not differentiable)")
    return list(dict.fromkeys(names))


def run(names=None, n: int = DEFAULT_N, dtypes=("float64", "float32"), repeat: int = 5,
        peers=("numpy", "torch", "sklearn"), log=print) -> list[Result]:
    """Benchmark ``names`` (default: every benchmarkable catalog loss) at each dtype."""
    if n < 1 or repeat < 1:
        raise ValueError(f"bench: n and repeat must be positive, got n={n}, repeat={repeat}")
    results = []
    for name in benchmarkable(names):
        for dt in dtypes:
            r = bench_one(name, dt, n, repeat=repeat, peers=peers)
            results.append(r)
            if log:
                agree = ", ".join(f"{p} {dl:.1e}/{dg:.1e}" for p, (dl, dg) in r.agree.items())
                log(f"{name:<28} {dt:<8} lossgen {r.lossgen:8.1f} ms  out= {r.lossgen_out:8.1f}  "
                    f"bandwidth {r.bandwidth:6.1f}  torch {_f(r.torch):>7}  sklearn {_f(r.sklearn):>7}  "
                    f"numpy {_f(r.numpy):>7}   agree(loss/grad): {agree}")
    return results


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


def main(argv=None, prog="cpu_bench") -> int:
    """``lossgen bench`` / ``benchmarks/cpu_bench.py``."""
    import argparse
    p = argparse.ArgumentParser(prog=prog, description="CPU benchmark of the catalog kernels "
                                "against NumPy, torch, scikit-learn and a bandwidth reference")
    from .cli import add_bench_arguments
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
    if args.write:
        write_results(args.write, results, command_line(args, command))
        print(f"wrote {args.write}")
    return 0


# ----------------------------------------------------------------------------------------
# per-call overhead at small N
# ----------------------------------------------------------------------------------------

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
    from .runtime.loss import Loss
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
