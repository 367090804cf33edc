"""Shared helpers of the CUDA tests: points, device copies and comparisons."""
import math

import mpmath
import numpy as np

from lossgen.verify.points import random_points
from lossgen.verify.truth import exact_derivative, mp_function, spec_args
from ulp import ulp_error

# float64: device results equal the CPU kernels' to this, relative to the typical size
# of the quantity (the median |value|), so a value that crosses zero is judged on the
# scale of its neighbours, not on its own vanishing size
RTOL64 = 1e-13
# float32: both targets compute in float64 wherever a float64 parameter or literal
# enters and round on the store; where an expression stays in float32, the simulator
# (NumPy scalars) and Numba may round intermediate results differently
RTOL32 = 2e-5


def inputs(spec, rng, n):
    """Random points in each input's domain (float64) and positive weights."""
    return random_points(spec, rng, n), rng.uniform(0.5, 2.0, n)


def host(x):
    return x.copy_to_host()


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def assert_close(label, device, cpu, rtol):
    """Elementwise agreement within ``rtol`` of max(|cpu|, median |cpu|)."""
    device, cpu = np.asarray(device, dtype=np.float64), np.asarray(cpu, dtype=np.float64)
    assert device.shape == cpu.shape, f"{label}: shape {device.shape} != {cpu.shape}"
    finite = np.isfinite(cpu)
    assert np.array_equal(np.isfinite(device), finite), f"{label}: finite/non-finite pattern differs"
    assert np.array_equal(device[~finite], cpu[~finite], equal_nan=True), f"{label}: non-finite values differ"
    if not finite.any():
        return
    scale = np.maximum(np.abs(cpu[finite]), np.median(np.abs(cpu[finite])))
    err = np.abs(device[finite] - cpu[finite]) / np.where(scale > 0, scale, 1.0)
    worst = int(np.argmax(err))
    assert err[worst] <= rtol, (f"{label}: relative difference {err[worst]:.3g} > {rtol:.0e} "
                                f"(device {device[finite][worst]!r}, cpu {cpu[finite][worst]!r})")


def assert_sum_close(label, device_total, cpu_total, terms, rtol):
    """A reduction: the two sums agree within ``rtol`` of the sum of |terms| (the
    order of a float64 sum decides its last bits, more so when terms cancel)."""
    device_total, cpu_total = float(device_total), float(cpu_total)
    if math.isnan(cpu_total) or math.isinf(cpu_total):
        assert device_total == cpu_total or (math.isnan(device_total) and math.isnan(cpu_total)), label
        return
    bound = rtol * max(float(np.sum(np.abs(terms))), 1e-300)
    assert abs(device_total - cpu_total) <= bound, \
        f"{label}: device sum {device_total!r}, CPU sum {cpu_total!r} (allowed {bound:.3g})"


def assert_matches_truth(label, values, expr, spec, cols, budget):
    """``values`` against ``expr`` evaluated by mpmath at 50 digits, in ulps of
    max(|truth|, median |truth|) (as tests/test_ground_truth.py measures the CPU)."""
    args = spec_args(spec)
    f = mp_function(expr, args)
    params = [p.default for p in spec.params]
    truths = [f(*([c[j] for c in cols] + params)) for j in range(len(values))]
    typical = [abs(float(t)) for t in truths if mpmath.isfinite(t)]
    floor = float(np.median(typical)) if typical else 0.0
    bad = [(j, float(values[j]), float(t), e) for j, t in enumerate(truths)
           if (e := ulp_error(float(values[j]), t, floor=floor)) > budget]
    assert not bad, f"{spec.name} {label}: {len(bad)} points over {budget} ulp, e.g. {bad[:3]}"


def derivative(spec, *wrt):
    return exact_derivative(spec, *wrt)
