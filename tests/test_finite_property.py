"""Property (issue 3): for every catalog loss, finite inputs whose true loss (gradient,
Hessian) is finite and representable never give an inf or NaN kernel output.

Hypothesis draws each input from its domain over the whole float range (and the
float32 range for float32 kernels); the truth is the spec's mathematics in mpmath.
Derandomized, so CI sees the same examples on every run.
"""
import math

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lossgen
from lossgen.verify.truth import exact_derivative, mp_function, spec_args


#: (loss, dtype) -> inputs checked before hypothesis draws: points hypothesis once found
#: (what it finds depends on which tests ran before), kept as regression cases.
#: tweedie at a subnormal pred = target: (pred - target)/target was printed as
#: r*(1/target), and 1/target overflowed (0*inf = NaN; truth 0).  Its Hessian at
#: pred = 2.4e-176 with target 0 and 1e-300: the double-double program computed
#: target*pred**(-power - 1) as 0*inf = NaN (now (target/pred)*pred**-power), and the
#: guard kept the plain sum inf + inf (truth -2.7e263).
WITNESSES = {
    ("tweedie_deviance", "float64"): [(2.225073858507e-311, 2.225073858507e-311), (2.410884995690064e-176, 0.0),
                                      (2.410884995690064e-176, 1e-300)],
}
#: (loss, dtype) -> the overflow hypothesis finds there today.  Each is an intermediate
#: that overflows although the result does not.  Strict: a case that starts passing must
#: come off the list.
KNOWN_OVERFLOWS: dict = {}


def _domain(domain, dtype):
    if domain.values is not None:
        return st.sampled_from([float(v) for v in domain.values])
    width = 32 if dtype == np.float32 else 64
    lo = None if math.isinf(domain.lo) else domain.lo
    hi = None if math.isinf(domain.hi) else domain.hi
    return st.floats(min_value=lo, max_value=hi, exclude_min=domain.lo_open and lo is not None,
                     exclude_max=domain.hi_open and hi is not None, allow_nan=False,
                     allow_infinity=False, width=width)


def _truths(spec):
    args = spec_args(spec)
    out = {"loss": mp_function(spec.loss, args)}
    for a in spec.differentiable_inputs:
        out[f"d/d{a.name}"] = mp_function(exact_derivative(spec, a.symbol), args)
        out[f"d2/d{a.name}2"] = mp_function(exact_derivative(spec, a.symbol, a.symbol), args)
    return out


def _outputs(L, cols, kw):
    out = {"loss": L.loss(*cols, reduction="none", **kw)}
    if L.diff_names:
        g, h = L.grad_hess(*cols, reduction="none", **kw)
        g = (g,) if len(L.diff_names) == 1 else g
        h = (h,) if len(L.diff_names) == 1 else h
        for k, n in enumerate(L.diff_names):
            out[f"d/d{n}"], out[f"d2/d{n}2"] = g[k], h[k]
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_finite_truth_gives_finite_kernel_output(catalog_name, dtype, request):
    known = KNOWN_OVERFLOWS.get((catalog_name, np.dtype(dtype).name))
    if known:
        request.applymarker(pytest.mark.xfail(reason=known, strict=True))
    L = lossgen.get(catalog_name)
    spec = L.spec
    truths = _truths(spec)
    kw = {p.name: p.default for p in spec.params}
    params = [p.default for p in spec.params]
    biggest = float(np.finfo(dtype).max)

    def check(values):
        cols = [np.array([v], dtype=dtype) for v in values]
        if not all(i.domain.contains(float(c[0])) for i, c in zip(spec.inputs, cols)):
            return
        with np.errstate(all="ignore"):
            outs = _outputs(L, cols, kw)
        point = [float(c[0]) for c in cols] + params
        for label, values_out in outs.items():
            v = float(values_out[0])
            if math.isfinite(v):
                continue
            try:
                t = truths[label](*point)
            except (ValueError, TypeError, ZeroDivisionError):
                continue
            finite = isinstance(t, mpmath.mpf) and mpmath.isfinite(t) and abs(t) <= biggest
            assert not finite, f"{catalog_name} {label} at {point}: kernel {v}, truth {mpmath.nstr(t, 17)}"

    # the witnesses first: what hypothesis finds depends on which tests ran before
    for values in WITNESSES.get((catalog_name, np.dtype(dtype).name), ()):
        check(values)
    settings(max_examples=60, deadline=None, derandomize=True, database=None,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])(
        given(st.tuples(*[_domain(i.domain, dtype) for i in spec.inputs]))(check))()


@pytest.mark.parametrize("name, label, values", [
    ("gaussian_nll", "d/dvar", (0.0, 6.85138604047562e+159, 261120709454.0)),
    ("tweedie_deviance", "d2/dpred2", (2.0, 1.1984620899082105e+308)),
], ids=["gaussian_nll-dvar", "tweedie_deviance-hess"])
def test_former_overflows_are_finite_and_accurate(name, label, values):
    """Points where an intermediate of the form as derived overflowed although the result
    is representable (r**2/v at |r| ~ 7e159, var ~ 3e11; p*target at target ~ max/p): the
    kernel is finite there and within its budget of the mpmath truth."""
    from lossgen.verify.ulps import budget, ulp_error
    L = lossgen.get(name)
    kw = {p.name: p.default for p in L.spec.params}
    cols = [np.array([v]) for v in values]
    v = float(_outputs(L, cols, kw)[label][0])
    t = _truths(L.spec)[label](*(list(values) + [p.default for p in L.spec.params]))
    assert math.isfinite(v) and ulp_error(v, t) <= budget(label)
