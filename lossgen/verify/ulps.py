"""Errors in units in the last place, and what counts as the truth beside a kink."""
from __future__ import annotations

import math

import mpmath
import numpy as np

#: Accuracy budgets in ulps (issue 3), the certificate's and the lowering's: values and
#: gradients, Hessians, anything in float32.
BUDGET_VALUE = 8.0
BUDGET_HESSIAN = 16.0
BUDGET_FLOAT32 = 4.0


def budget(output: str, dtype: str = "float64") -> float:
    """The budget of one kernel output ("loss", "d/dpred", "d2/dpreddpred", ...)."""
    if dtype == "float32":
        return BUDGET_FLOAT32
    return BUDGET_HESSIAN if output.startswith("d2/") else BUDGET_VALUE


def ulp_error(value: float, truth, dtype=np.float64, floor: float = 0.0) -> float:
    """|value - truth| in ulps of max(|truth|, floor, smallest normal) of ``dtype``.

    NaN against NaN and equal infinities are no error; any other non-finite value is an
    infinite one."""
    if math.isnan(value):
        return 0.0 if mpmath.isnan(truth) else math.inf
    t = float(truth)  # nearest double (mpmath rounds correctly)
    if math.isinf(t):
        return 0.0 if value == t else math.inf
    if math.isinf(value):
        return math.inf
    return float(abs(mpmath.mpf(value) - truth) / float(ulp_of(max(abs(t), floor), dtype)))


def ulp_of(scale, dtype=np.float64):
    """The ulp errors are counted in: that of max(scale, smallest normal) in ``dtype``
    (a number or an array of them), and the largest binade's for a scale at or beyond
    the largest float (whose own spacing is inf: the next float up does not exist)."""
    info = np.finfo(dtype)
    below_max = np.nextafter(info.max, info.dtype.type(0))
    with np.errstate(over="ignore"):
        scale = np.maximum(scale, float(info.tiny)).astype(info.dtype)
    return np.spacing(np.minimum(scale, below_max))


#: Relative offsets at which a kink's float neighbour is moved to either side of the
#: kink: the kink's exact position is known to a kernel only up to the rounding of the
#: expression that locates it (a residual, a product, a logarithm: float(log p) = -100
#: holds for some 60 doubles around e^-100), so either one-sided value, or their
#: midpoint (the kernels' subgradient at a kink), is the right answer there.
KINK_OFFSETS = {np.dtype(np.float64): (2.0 ** -60, 2.0 ** -51, 2.0 ** -44),
                np.dtype(np.float32): (2.0 ** -60, 2.0 ** -22, 2.0 ** -20)}


def kink_side_truths(truth_fn, args: list, xk: int, dtype=np.float64) -> list:
    """The values a kernel may return at ``args``, a float neighbour of a kink in
    argument ``xk``: the truth just left and right of the point, and their midpoint."""
    x = mpmath.mpf(args[xk])
    out = []
    for rel in KINK_OFFSETS[np.dtype(dtype)]:
        delta = mpmath.mpf(rel) * max(abs(x), mpmath.mpf(1e-300))
        sides = []
        for s in (-1, 1):
            moved = list(args)
            moved[xk] = x + s * delta
            try:
                sides.append(truth_fn(*moved))
            except (ValueError, TypeError, ZeroDivisionError):
                pass
        out += sides + ([(sides[0] + sides[1]) / 2] if len(sides) == 2 else [])
    return [t for t in out if isinstance(t, mpmath.mpf) and mpmath.isfinite(t)]
