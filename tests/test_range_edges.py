"""The top and the bottom of the double range (issue 3's property: finite inputs whose
true value is finite never give inf or NaN).

* the mpmath truth is exact for sums of arguments of very different magnitudes;
* the lowering's probe grid reaches the largest doubles, so it can see an intermediate
  overflow, and scores truths up to the largest double;
* double-double products divide rather than multiply by a reciprocal, and apply large
  constants and bare symbols after the compound factors;
* the runtime's two_prod and log1pmx behave at the edges (no overflow in the error term,
  no endless series on NaN).

Every expected value comes from mpmath or from exact arithmetic, never from a kernel.
"""
import math

import mpmath
import numpy as np
import sympy as sp

from lossgen.rewrite.compensated import evaluate, program
from lossgen.rewrite.lower import probe_grid
from lossgen.runtime import scalar
from lossgen.spec.loader import load_spec
from lossgen.paths import specs_dir
from lossgen.verify.points import NEAR_OVERFLOW
from lossgen.verify.truth import mp_function

TOP = 2.0 ** 1023
a, b, c, d = sp.symbols("a b c d", real=True)


def test_truth_is_exact_for_a_sum_of_far_apart_magnitudes():
    # (a - c) - (b - d) at a = -d = 2**1023: at 50 and at 100 digits the small terms are
    # lost and both evaluations give 0; the truth is -(b + c) exactly
    f = mp_function((a - c) - (b - d), (a, b, c, d))
    exact = mpmath.fsub(mpmath.mpf(-0.4776750297434331), mpmath.mpf(0.9869088883806063), exact=True)
    assert f(TOP, 0.4776750297434331, 0.9869088883806063, -TOP) == exact


def test_probe_grid_reaches_the_largest_doubles():
    spec = load_spec(specs_dir() / "dpo.toml")
    grid = probe_grid(spec)
    k = len(spec.inputs)
    rows = np.stack(grid[:k], axis=1)
    for m in NEAR_OVERFLOW:
        for j in range(k):
            assert np.any(rows[:, j] == m) and np.any(rows[:, j] == -m)
    # two inputs at opposite signs (their difference overflows)
    assert any(r[0] == TOP and r[1] == -TOP for r in rows)
    assert any(r[0] == -TOP and r[3] == TOP for r in rows)


def _dd(expr, args, *cols):
    return evaluate(program(expr), args, [np.array(col, dtype=np.float64) for col in cols])


def test_double_double_divides_instead_of_multiplying_by_a_reciprocal():
    # (a - b)/b at a = b = 5e-324: 1/b overflows, (a - b)/b = 0
    out = _dd((a - b) / b, (a, b), [5e-324, 5e-324], [5e-324, 5e-324])
    assert np.all(out == 0.0)


def test_double_double_applies_large_constants_last():
    # 2*a/b**3 at a = 2**1023, b = 2: 2*a overflows, the result is 2**1021
    out = _dd(2 * a / b**3, (a, b), [TOP], [2.0])
    assert out[0] == 2.0 ** 1021


def test_double_double_applies_bare_symbols_after_compound_factors():
    # c*(a + b)*exp(-d) at c = 2, a + b = 2**1023, e**-d = 0: (c*(a + b))*0 is inf*0 = NaN,
    # c*((a + b)*0) is 0
    out = _dd(c * (a + b) * sp.exp(-d), (a, b, c, d), [TOP], [1.0], [2.0], [800.0])
    assert out[0] == 0.0


def test_two_prod_error_term_near_the_largest_double():
    x = 1.3407807929942596e154          # x*x rounds to within an ulp of the largest double
    p, e = scalar.two_prod(x, x)
    assert math.isfinite(p) and math.isfinite(e)
    exact = mpmath.mpf(x) ** 2
    assert abs(mpmath.mpf(p) + e - exact) <= abs(exact) * 2.0 ** -52
    # the vectorised twin the lowering measures with agrees
    from lossgen.rewrite.compensated import _two_prod
    with np.errstate(all="ignore"):   # as the lowering's evaluate runs it
        pv, ev = _two_prod(np.array([x]), np.array([x]))
    assert math.isfinite(pv[0]) and math.isfinite(ev[0])


def test_log1pmx_of_nan_is_nan_and_returns():
    assert math.isnan(scalar.log1pmx(math.nan))


def test_dd_div_when_the_check_product_overflows():
    # max/3 times 3 rounds past the largest double; the quotient is still max/3
    big = float(np.finfo(np.float64).max)
    q, r = scalar.dd_div(big, 0.0, 3.0, 0.0)
    assert math.isfinite(q) and math.isfinite(r)
    assert abs(mpmath.mpf(q) + r - mpmath.mpf(big) / 3) <= mpmath.mpf(big) / 3 * 2.0 ** -52
    from lossgen.rewrite.compensated import _dd_div
    with np.errstate(all="ignore"):   # as the lowering's evaluate runs it
        qv, rv = _dd_div(np.array([big]), np.array([0.0]), np.array([3.0]), np.array([0.0]))
    assert math.isfinite(qv[0]) and math.isfinite(rv[0])


def test_plain_code_divides_instead_of_multiplying_by_a_reciprocal():
    """Elimination of common subexpressions leaves no bare ``1/x`` temporary: it overflows
    at a subnormal x where x'/x does not (tweedie at pred = target = 2.2e-311 was
    r*(1/target) = 0*inf = NaN; the truth is 0)."""
    from lossgen.codegen.point import point_function
    x, y = sp.symbols("x y", positive=True)
    f = point_function("f", "", ("x", "y"), [sp.exp((x - y) / y) + (x - y) / y])
    text = " ".join(v for _, v in f.assignments) + " " + " ".join(f.returns)
    assert "1.0/" not in text and "/y" in text, text
    import lossgen
    tiny = np.array([2.225073858507e-311])
    L = lossgen.get("tweedie_deviance")
    assert L.loss(tiny, tiny, reduction="none")[0] == 0.0
    want = float(mp_function(L.spec.loss, tuple(i.symbol for i in L.spec.inputs) + tuple(
        p.symbol for p in L.spec.params))(tiny[0], tiny[0] * 1.5, 1.5))
    got = L.loss(tiny, tiny * 1.5, reduction="none")[0]
    assert math.isfinite(got) and abs(got - want) <= 8 * math.ulp(max(abs(want), 2.2250738585072014e-308))
