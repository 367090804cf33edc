"""One loss at one dtype: every timing of the benchmark on the same arrays, and the
agreement of every peer with lossgen; a run over the catalog."""
from __future__ import annotations

import dataclasses
import math

import numba
import numpy as np

from .peers import Peer, bench_inputs, numpy_peer, sklearn_peer, torch_peer
from .timing import bandwidth_call, median_ms

DEFAULT_N = 10**7


def _f(v, fmt="{:.1f}"):
    """A figure for a table or a log line; a dash where a peer lacks the loss."""
    return "—" if v is None else fmt.format(v)

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


def benchmarkable(names=None) -> list[str]:
    """The elementwise, differentiable catalog losses (all of them when ``names`` is None);
    an unknown or unbenchmarkable name is a ValueError naming it."""
    import lossgen
    from ..catalog import spec_for
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
