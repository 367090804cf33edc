"""The Numba printer: what Piecewise, log1p and the conditions become, and that the
printed code computes what SymPy says (compiled with Numba, compared at points on both
sides of every condition, the parameters' too)."""
import math

import mpmath
import numba
import numpy as np
import pytest
import sympy as sp

from lossgen.codegen.printer import is_branch_free, print_expr
from lossgen.primitives.functions import log1p, log1pmx, to_elementary, xlogy
from lossgen.runtime import scalar

x, t, full, c = sp.symbols("pred target full c", real=True)

CASES = [
    # poisson_nll's Stirling term: a parameter test and an element test in one condition
    (sp.Piecewise((full * (xlogy(t, t) - t + sp.log(2 * sp.pi * t) / 2), (full > 0) & (t > 1)), (0, True)),
     ("full",)),
    # a parameter test alone, then an element test, then the default
    (sp.Piecewise((x ** 2, c > 1), (sp.exp(x) - t, x > t), (log1p(x ** 2), True)), ("c",)),
    # element tests only (printed as before: a conditional expression)
    (sp.Piecewise((x ** 2 / 2, sp.Abs(x - t) <= c), (c * (sp.Abs(x - t) - c / 2), True)), ("c",)),
    # a negated element test under a parameter test (printed `not`, which plain Python,
    # as in the CUDA simulator, evaluates as Numba does; `~True` would be -2, a true value)
    (sp.Piecewise((x - t, (c > 0) & sp.Not(sp.And(x > t, x < 2))), (t, True)), ("c",)),
    # a parameter test and a piece with a library call (no select: the call keeps a branch)
    (sp.Piecewise((log1pmx(x), (c > 0) & (x > -sp.Rational(1, 2))), (x, True)), ("c",)),
]


def _compiled(expr, invariants):
    src = f"def f(pred, target, full, c):\n    return {print_expr(expr, invariants)}\n"
    namespace = {"math": math, **{n: getattr(scalar, n) for n in dir(scalar) if not n.startswith("_")}}
    exec(src, namespace)
    return numba.njit(error_model="numpy")(namespace["f"]), src


def _truth(expr, values):
    with mpmath.workdps(40):
        v = to_elementary(expr).subs({x: values[0], t: values[1], full: values[2], c: values[3]})
        v = sp.piecewise_fold(v)
        return float(sp.N(v, 30))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_printed_piecewise_matches_sympy(case):
    expr, invariants = CASES[case]
    f, src = _compiled(expr, invariants)
    rng = np.random.default_rng(case)
    points = [(float(a), float(b), p, q) for a, b in rng.uniform(0.05, 3.0, size=(12, 2))
              for p in (0.0, 1.0) for q in (0.5, 2.0)]
    points += [(1.0, 1.0, 1.0, 1.0), (2.0, 1.0, 0.0, 1.0), (0.5, 2.0, 1.0, 0.0)]   # on the boundaries
    for pt in points:
        want = _truth(expr, pt)
        assert f(*pt) == pytest.approx(want, rel=1e-14, abs=1e-300), (src, pt)
        # the same source run as plain Python (what Numba's CUDA simulator does)
        assert f.py_func(*pt) == pytest.approx(want, rel=1e-14, abs=1e-300), (src, pt)


def test_parameter_test_is_a_branch_around_a_select():
    expr, invariants = CASES[0]
    text = print_expr(expr, invariants)
    # the parameter's test outermost (LLVM moves a loop-invariant branch out of the loop),
    # the element's test a select inside it
    assert text.startswith("((select((target > 1.0), ")
    assert text.endswith(") if ((full > 0.0)) else 0.0)")
    # without invariants the condition stays one conditional expression
    assert print_expr(expr) == ("((full*(-target + (0.5)*log(2.0*math.pi*target) + xlogy(target, target)))"
                                " if ((full > 0.0) and (target > 1.0)) else 0.0)")


def test_negation_is_not_bitwise():
    expr, invariants = CASES[3]
    text = print_expr(expr, invariants)
    assert "(not ((pred > target) & (pred < 2.0)))" in text and "~" not in text


def test_library_call_keeps_a_branch_inside_the_parameter_test():
    expr, invariants = CASES[4]
    text = print_expr(expr, invariants)
    assert "select(" not in text
    assert text == "(((log1pmx(pred)) if ((pred > -0.5)) else pred) if ((c > 0.0)) else pred)"


def test_log1p_is_the_runtime_function():
    assert print_expr(log1p(x / t)) == "log1p(pred/target)"
    assert "math.log1p" not in print_expr(sp.Piecewise((log1p(x), x > 0), (x, True)))


@pytest.mark.parametrize("expr, expected", [
    (sp.exp(x) - t * sp.log(x), True),
    (sp.Abs(x) ** 2 + sp.sqrt(x) + 1 / x ** 3, True),
    (sp.Max(x, 0) * sp.sign(x) + xlogy(t, x) + log1p(x), True),
    (x ** c, False),            # a general power: a libm call
    (x ** sp.Rational(1, 3), False),
    (log1pmx(x), False),        # a series primitive with branches
    (sp.cos(x), False),         # math.cos
])
def test_branch_free_classification(expr, expected):
    assert is_branch_free(expr) is expected
