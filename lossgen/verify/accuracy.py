r"""The accuracy certificate: every kernel of a loss against mpmath on an adversarial grid.

For each kernel output (the loss, each gradient, each Hessian entry) in float64 and
float32, the error at a point is

    |kernel - truth| / ulp(max(|truth|, smallest normal of the dtype))

with the truth from the spec's mathematics (``sympy.diff`` of the loss as written)
evaluated by mpmath at 50 digits at the kernel's own (rounded) inputs.  Points where the
truth is not finite or not representable in the dtype are left out; a non-finite kernel
output where the truth is finite and representable is counted separately.  Exactly at a
kink only the value is checked; at a kink's float neighbours a derivative may take
either side (the float inputs do not say on which side the exact kink lies).

The grid, built from each input's domain: random normals; log-uniform magnitudes from
1e-300 to 1e300 of both signs; each kink and its float neighbours; domain edges; ±0;
arguments near the overflow of exp and cosh (±700..±1000 in float64, ±80..±100 in
float32); targets at their extremes.
"""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field

import mpmath

import numpy as np

from ..spec.model import Spec
from .points import edge_values, random_points, special_points
from .truth import exact_derivative, mp_function, spec_args
from .ulps import kink_side_truths, ulp_error

OVERFLOW_ARGS = {np.dtype(np.float64): (700.0, 709.5, 710.5, 745.0, 800.0, 1000.0),
                 np.dtype(np.float32): (80.0, 88.5, 89.5, 100.0)}


def _domain_values(domain, dtype, rng) -> list[float]:
    """Adversarial values inside one input's domain."""
    if domain.values is not None:
        return list(domain.values)
    info = np.finfo(dtype)
    lo_exp = max(-300, int(np.log10(info.tiny)) + 1)
    hi_exp = min(300, int(np.log10(info.max)) - 1)
    mags = list(10.0 ** rng.uniform(lo_exp, hi_exp, 24)) + [10.0 ** e for e in range(lo_exp, hi_exp + 1, 25)]
    vals = mags + [-m for m in mags] + list(rng.normal(0, 3, 12))
    vals += [0.0, -0.0, 1.0, -1.0, 0.5]
    vals += [s * a for a in OVERFLOW_ARGS[dtype] for s in (1, -1)]
    vals += edge_values(domain)
    if not math.isinf(domain.lo) and not math.isinf(domain.hi):
        width = domain.hi - domain.lo
        vals += [domain.lo + width * f for f in (1e-300, 1e-16, 1e-8, 0.5, 1 - 1e-8, 1 - 1e-16)]
        vals += list(rng.uniform(domain.lo, domain.hi, 12))
    out = []
    for v in vals:
        v = float(dtype.type(v))
        if math.isfinite(v) and domain.contains(v) and v not in out:
            out.append(v)
    return out


def adversarial_grid(spec: Spec, dtype=np.float64, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(one array per input, at-kink mask, near-kink mask), values representable in ``dtype``.

    Made once per spec, dtype and seed in a process (the lowering's probe grid and the
    certificate both use it); each call gets its own copies."""
    cols, at_kink, near = _adversarial_grid(spec, np.dtype(dtype).str, seed)
    return [c.copy() for c in cols], at_kink.copy(), near.copy()


@functools.lru_cache(maxsize=64)
def _adversarial_grid(spec: Spec, dtype: str, seed: int):
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    base_rows = np.array(random_points(spec, rng, 24), dtype=np.float64).T  # (24, k)
    rows: list[list[float]] = [list(r) for r in base_rows]
    for k, inp in enumerate(spec.inputs):
        for j, v in enumerate(_domain_values(inp.domain, dtype, rng)):
            row = list(base_rows[j % len(base_rows)])
            row[k] = v
            rows.append(row)
    kinds = [0] * len(rows)
    pts, at_kink = special_points(spec, rng, per_kink=3)
    if len(at_kink):
        for j in range(len(at_kink)):
            rows.append([float(p[j]) for p in pts])
            kinds.append(1 if at_kink[j] else 2)
    arr = np.array(rows, dtype=np.float64).astype(dtype)
    keep = [j for j in range(len(arr)) if all(spec.inputs[k].domain.contains(float(arr[j, k]))
                                               for k in range(len(spec.inputs)))]
    arr = arr[keep]
    kinds = np.array(kinds)[keep]
    return [np.ascontiguousarray(arr[:, k]) for k in range(arr.shape[1])], kinds == 1, kinds == 2


@dataclass
class OutputReport:
    """Accuracy of one kernel output in one dtype."""

    output: str
    dtype: str
    max_ulp: float = 0.0
    worst_point: tuple = ()
    nonfinite: int = 0
    nonfinite_points: list = field(default_factory=list)
    points: int = 0

    def as_dict(self) -> dict:
        return {"output": self.output, "dtype": self.dtype, "max_ulp": self.max_ulp,
                "worst_point": list(self.worst_point), "nonfinite": self.nonfinite,
                "nonfinite_points": self.nonfinite_points[:5], "points": self.points}


def _measure(label, values, truth_fn, cols, params, dtype, skip, near, xk) -> OutputReport:
    rep = OutputReport(label, dtype.name)
    info = np.finfo(dtype)
    for j in range(len(cols[0])):
        if skip[j]:
            continue
        args = [float(c[j]) for c in cols] + params
        try:
            t = truth_fn(*args)
        except (ValueError, TypeError, ZeroDivisionError):
            continue
        if not isinstance(t, mpmath.mpf) or not mpmath.isfinite(t) or abs(t) > float(info.max):
            continue
        rep.points += 1
        v = float(values[j])
        if not math.isfinite(v):
            rep.nonfinite += 1
            rep.nonfinite_points.append((tuple(args), v, float(t)))
            continue
        err = ulp_error(v, t, dtype)
        if err > 1 and near[j]:
            for cand in kink_side_truths(truth_fn, args, xk, dtype):
                err = min(err, ulp_error(v, cand, dtype))
        if err > rep.max_ulp:
            rep.max_ulp, rep.worst_point = err, (tuple(args), v, float(t))
    return rep


def kernel_outputs(spec: Spec) -> list[tuple[str, tuple]]:
    """Each output a loss's kernels compute, as (label, the symbols it differentiates
    by): ("loss", ()), ("d/d<x>", (x,)) per differentiable input, ("d2/d<x>d<y>", (x, y))
    per pair with y at or after x."""
    dins = spec.differentiable_inputs
    out: list[tuple[str, tuple]] = [("loss", ())]
    out += [(f"d/d{a.name}", (a.symbol,)) for a in dins]
    out += [(f"d2/d{a.name}d{b.name}", (a.symbol, b.symbol)) for ia, a in enumerate(dins) for b in dins[ia:]]
    return out


def certify(loss, dtypes=(np.float64, np.float32)) -> list[OutputReport]:
    """Measure every kernel output of ``loss`` (a :class:`lossgen.Loss`) in each dtype.

    The outputs are those of the module's point functions, called on each grid point
    and rounded to the dtype: exactly what an array kernel with ``reduction="none"``
    stores (it widens each input to float64, calls the same point function and
    multiplies by a unit weight), without compiling the parallel kernels
    (``tests/test_accuracy_gate.py`` checks the two agree bit for bit)."""
    spec: Spec = loss.spec
    args = spec_args(spec)
    params = [p.default for p in spec.params]
    dins = spec.differentiable_inputs
    xk = [k for k, i in enumerate(spec.inputs) if i is (dins or (spec.prediction,))[0]][0]
    truths = {label: mp_function(exact_derivative(spec, *wrt) if wrt else spec.loss, args)
              for label, wrt in kernel_outputs(spec)}
    reports = []
    for dt in dtypes:
        dt = np.dtype(dt)
        cols, at_kink, near = adversarial_grid(spec, dt)
        none = np.zeros(len(at_kink), bool)
        outputs = {label: (values, none if label == "loss" else at_kink)
                   for label, values in point_outputs(loss, cols, dt).items()}
        for label, (values, skip) in outputs.items():
            reports.append(_measure(label, values, truths[label], cols, params, dt, skip, near, xk))
    return reports


def point_for_dtype(point, dtype):
    """``point`` as a kernel storing ``dtype`` calls it: with ``_float32=True`` where the
    point function has guards that are wider for float32 results."""
    if point is None or np.dtype(dtype) != np.float32:
        return point
    if "_float32" not in inspect.signature(point.py_func).parameters:
        return point
    return functools.partial(point, _float32=True)


def point_outputs(loss, cols, dtype) -> dict[str, np.ndarray]:
    """Every output of ``loss``'s point functions at the points ``cols`` (one array per
    input), rounded to ``dtype``: {"loss": ..., "d/d<x>": ..., "d2/d<x>d<y>": ...}, the
    values a ``reduction="none"`` kernel writes (parameters at their defaults)."""
    spec: Spec = loss.spec
    module = loss.module
    params = [float(p.default) for p in spec.params]
    dins = spec.differentiable_inputs
    k = len(dins)
    labels = [label for label, _ in kernel_outputs(spec)]
    rows = {label: [] for label in labels}
    point_hess = None if not dins else module.point_hess_full if k > 1 else module.point_hess
    point_loss, point_grad = (point_for_dtype(f, dtype) for f in (module.point_loss, getattr(module, "point_grad", None)))
    point_hess = point_for_dtype(point_hess, dtype)
    with np.errstate(all="ignore"):
        for j in range(len(cols[0])):
            row = [float(c[j]) for c in cols] + params
            values = [point_loss(*row)]
            if dins:
                g = point_grad(*row)
                values += list(g) if k > 1 else [g]
                h = point_hess(*row)
                values += list(h) if k > 1 else [h]
            for label, v in zip(labels, values):
                rows[label].append(v)
        return {label: np.array(v, dtype=np.float64).astype(dtype) for label, v in rows.items()}
