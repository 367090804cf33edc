"""Each stability rule alone: it states an identity (checked at 50 digits on a dense grid
of admissible arguments), and at extreme arguments its replacement is accurate in
float64 where the pattern it replaces is not."""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from lossgen.primitives import to_elementary
from lossgen.rewrite.rules import RULES, apply_rules
from lossgen.verify.floats import float_function
from lossgen.verify.truth import mp_function
from ulp import ulp_error

x, y = sp.symbols("x y", real=True)
g = sp.Symbol("g", positive=True)
G = sp.Rational(1, 4)  # the exponent in the sigmoid_power instance (< 1: the power of an
#                         underflowed sigmoid would still be representable)

# For each rule: a concrete instance of its pattern, the admissible grid, and extreme
# arguments where the naive form fails (non-finite or > 1e6 ulp) and the rewrite must
# be within 4 ulp.
CASES = {
    "softplus": (sp.log(1 + sp.exp(x)), [(v,) for v in np.linspace(-30, 30, 41)], [(800.0,), (-40.0,)]),
    "softplus_log1p": (sp.Function("log1p")(x), None, None),
    "log_sigmoid": (None, None, None),
    "log_one_minus_sigmoid": (None, None, None),
    "sigmoid_exp": (1 / (1 + sp.exp(-x)), [(v,) for v in np.linspace(-30, 30, 41)], [(-720.0,)]),
    "sigmoid_ratio": (sp.exp(x) / (1 + sp.exp(x)), [(v,) for v in np.linspace(-30, 30, 41)], [(720.0,)]),
    "logcosh": (sp.log(sp.cosh(x)), [(v,) for v in np.linspace(-30, 30, 41)], [(800.0,), (-1e4,), (1e-9,)]),
    "logaddexp": (sp.log(sp.exp(x) + sp.exp(y)), [(a, b) for a in np.linspace(-20, 20, 9) for b in np.linspace(-20, 20, 9)],
                  [(800.0, 799.0), (-800.0, -801.0)]),
    "xlogx": (x * sp.log(x), [(v,) for v in np.logspace(-6, 3, 30)], [(0.0,)]),
    "log1p": (sp.log(1 + x), [(v,) for v in np.linspace(-0.9, 30, 41)], [(1e-20,), (-1e-17,)]),
    "expm1": (sp.exp(x) - 1, [(v,) for v in np.linspace(-30, 30, 41)], [(1e-20,), (-1e-12,)]),
    "one_minus_exp": (1 - sp.exp(x), [(v,) for v in np.linspace(-30, 30, 41)], [(1e-20,), (-1e-12,)]),
    "sech2": (1 - sp.tanh(x) ** 2, [(v,) for v in np.linspace(-30, 30, 41)], [(20.0,), (-30.0,), (300.0,)]),
    "sqrt1p_minus_1": (sp.sqrt(1 + x) - 1, [(v,) for v in np.linspace(-0.9, 30, 41)], [(1e-20,), (-1e-12,)]),
    "sigmoid_power": (None, None, None),
}


def _instance(rule):
    """A concrete expression matching the rule's pattern (from CASES or the pattern itself)."""
    expr, grid, extreme = CASES[rule.name]
    if expr is None or rule.name == "softplus_log1p":
        from lossgen.primitives import log1p, sigmoid
        expr = {"softplus_log1p": log1p(sp.exp(x)),
                "log_sigmoid": sp.log(sigmoid(x)),
                "log_one_minus_sigmoid": sp.log(1 - sigmoid(x)),
                "sigmoid_power": sigmoid(x) ** g}[rule.name]
        grid = [(v,) for v in np.linspace(-30, 30, 41)]
        extreme = {"softplus_log1p": [(800.0,)], "log_sigmoid": [(-800.0,)], "log_one_minus_sigmoid": [(800.0,)],
                   "sigmoid_power": [(-800.0,)]}[rule.name]
    return expr, grid, extreme


def test_every_rule_has_a_case():
    assert {r.name for r in RULES} == set(CASES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_is_an_identity(rule):
    expr, grid, _ = _instance(rule)
    rewritten = expr.replace(rule.pattern, rule.replacement)
    assert rewritten != expr, f"rule {rule.name} does not match its own instance {expr}"
    syms = sorted(expr.free_symbols - {g}, key=str)
    subs = {g: G}
    f = mp_function(to_elementary(expr).xreplace(subs), tuple(syms))
    h = mp_function(to_elementary(rewritten).xreplace(subs), tuple(syms))
    with mpmath.workdps(120):  # the naive forms cancel; keep 100+ digits for them
        for point in grid:
            a, b = f(*point), h(*point)
            assert abs(a - b) <= mpmath.mpf(10) ** -60 * (1 + abs(a)), (rule.name, point, a, b)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rule_fixes_the_extreme_arguments(rule):
    expr, _, extreme = _instance(rule)
    rewritten = apply_rules(expr)
    syms = tuple(sorted(expr.free_symbols - {g}, key=str))
    subs = {g: G}
    # the truth from the rewritten form with the primitives' accurate mpmath values
    # (test_rule_is_an_identity shows both forms equal); the naive form would need
    # hundreds of digits at these arguments
    truth = mp_function(rewritten.xreplace(subs), syms)
    naive = float_function(to_elementary(expr).xreplace(subs), syms)
    stable = float_function(rewritten.xreplace(subs), syms)
    for point in extreme:
        t = truth(*point)
        cols = [np.array([p]) for p in point]
        n_val, s_val = float(naive(*cols)[0]), float(stable(*cols)[0])
        assert ulp_error(s_val, t) <= 4, (rule.name, point, s_val, float(t))
        naive_err = ulp_error(n_val, t) if math.isfinite(n_val) else math.inf
        assert naive_err > 4, f"{rule.name}: the naive form is already accurate at {point}: not an extreme case"


def test_prefiltered_rules_give_the_results_of_plain_matching():
    """apply_rules skips a rule whose pattern's functions are absent and matches only
    nodes of the pattern's own kind; on every catalog loss, its derivatives and their
    rule-rewritten and distributed forms the result equals matching every rule at every
    node (SymPy's replace with the guard checked after the match)."""
    import glob
    from lossgen.derive.derivatives import derive
    from lossgen.paths import specs_dir
    from lossgen.rewrite.forms import distributed
    from lossgen.rewrite.rules import RULES, apply_rules
    from lossgen.spec.loader import load_spec

    def plain(expr):
        for _ in range(6):
            before = expr
            for rule in RULES:
                def query(node, rule=rule):
                    return node.match(rule.pattern) is not None and (rule.when is None or rule.when(node))

                def value(node, rule=rule):
                    return rule.replacement.xreplace(node.match(rule.pattern))
                expr = expr.replace(query, value)
            if expr == before:
                break
        return expr

    checked = 0
    for path in sorted(glob.glob(str(specs_dir() / "*.toml"))):
        spec = load_spec(path)
        d = derive(spec)
        exprs = [spec.loss] + list(d.grad) + [h for row in d.hess for h in row]
        exprs += [distributed(e) for e in list(exprs)]
        for e in exprs:
            if sp.count_ops(e) > 400:   # plain matching of focal's Hessian takes minutes
                continue
            assert apply_rules(e) == plain(e), (path, e)
            checked += 1
    assert checked > 100
