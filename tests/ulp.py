"""Error of a float result against a high-precision truth, in units in the last place."""
import math

import mpmath
import numpy as np


def ulp_error(value: float, truth, dtype=np.float64, floor: float = 0.0) -> float:
    """|value - truth| in ulps of max(|truth|, floor, smallest normal) of ``dtype``."""
    info = np.finfo(dtype)
    if math.isnan(value):
        return 0.0 if mpmath.isnan(truth) else math.inf
    t = float(truth)  # nearest double (mpmath rounds correctly)
    if math.isinf(t):
        return 0.0 if value == t else math.inf
    if math.isinf(value):
        return math.inf
    scale = max(abs(t), floor, float(info.tiny))
    ulp = float(np.spacing(dtype(scale))) if scale < float(info.max) else float(np.spacing(info.max))
    return float(abs(mpmath.mpf(value) - truth) / ulp)
