"""Convexity verdicts: proved (with the method), disproved (with a witness checked here
at high precision, independently of the analysis code), unknown (honestly).

Ground truth never comes from the code under test: a witness is re-checked from the
spec's own expression, differentiated with ``sympy.diff`` and evaluated with mpmath
(:mod:`lossgen.verify.truth`), and convexity facts come from the mathematics (FACTS.md:
focal loss with gamma = 2 is non-convex in the logit for logit < about -2.79 with
target 1; log-error losses are non-convex in the prediction).
"""
from __future__ import annotations

import mpmath
import pytest
import sympy as sp

from lossgen.analysis.budget import Deadline
from lossgen.analysis.convexity import convexity
from lossgen.analysis.problem import Problem
from lossgen.catalog import spec_for
from lossgen.scaffold import scaffold
from lossgen.spec import parse_spec_text
from lossgen.verify.truth import mp_function

PROVED = ["mse", "mae", "huber", "pseudo_huber", "log_cosh", "hinge", "squared_hinge", "logistic",
          "bce_with_logits", "poisson_nll", "exponential", "quantile", "margin_ranking"]
DISPROVED = ["focal", "cauchy", "tukey", "welsch", "geman_mcclure", "ramp", "msle"]
METHODS = {"dcp", "second derivative", "piecewise", "interval branch-and-bound", "hessian principal minors"}


def verdict(spec, params=None, seconds=30.0):
    return convexity(Problem.build(spec, params), Deadline(seconds)).as_dict()


def user_spec(name, expr, params=None):
    return parse_spec_text(scaffold(name, expr, params or {}), f"<{name}>")


def spec_values(spec, point):
    """The witness point as (symbols, values) in spec order (inputs, then params)."""
    args = tuple(i.symbol for i in spec.inputs) + tuple(p.symbol for p in spec.params)
    return args, [mpmath.mpf(point[s.name]) for s in args]


def check_witness(spec, w):
    """Re-check a witness from the spec itself, at 60 digits."""
    args, vals = spec_values(spec, w["point"])
    x = spec.input(w["input"]).symbol
    k = args.index(x)
    if w["kind"] == "negative second derivative":
        f2 = mp_function(sp.diff(spec.loss, x, 2), args)
        with mpmath.workdps(60):
            assert f2(*vals) < 0
    else:   # concave kink / chord: the loss lies strictly above a chord around the point
        f = mp_function(spec.loss, args)
        h = mpmath.mpf(w["h"]) if "h" in w else None
        with mpmath.workdps(60):
            if h is None:
                a, b = mpmath.mpf(w["a"]), mpmath.mpf(w["b"])
                m = vals[k]
            else:
                m = vals[k]
                a, b = m - h, m + h
            fa = f(*[a if j == k else v for j, v in enumerate(vals)])
            fb = f(*[b if j == k else v for j, v in enumerate(vals)])
            fm = f(*vals)
            assert fm > (fa * (b - m) + fb * (m - a)) / (b - a)
    for p in spec.params:       # the parameters of a witness satisfy the spec's constraints
        if p.constraint is not None:
            assert p.constraint.xreplace({q.symbol: sp.nsimplify(w["point"][q.name]) for q in spec.params})


@pytest.mark.parametrize("name", PROVED)
def test_proved_convex_with_method(name):
    v = verdict(spec_for(name))
    assert v["verdict"] == "proved", v
    assert v["method"] in METHODS
    assert v["witness"] is None


@pytest.mark.parametrize("name", DISPROVED)
def test_disproved_with_a_witness_checked_at_high_precision(name):
    spec = spec_for(name)
    v = verdict(spec)
    assert v["verdict"] == "disproved", v
    assert v["method"].startswith("witness")
    check_witness(spec, v["witness"])


def test_focal_witness_is_in_the_logit_at_gamma_2():
    spec = spec_for("focal")
    w = verdict(spec)["witness"]
    assert w["input"] == "pred" and w["point"]["gamma"] == 2.0
    # FACTS.md: with target 1 and gamma = 2, f'' < 0 for logit < about -2.79, > 0 above it
    args = tuple(i.symbol for i in spec.inputs) + tuple(p.symbol for p in spec.params)
    f2 = mp_function(sp.diff(spec.loss, spec.input("pred").symbol, 2), args)
    assert f2(-3.0, 1.0, 0.25, 2.0) < 0 < f2(-2.6, 1.0, 0.25, 2.0)
    # with gamma fixed at 2 it is still disproved; with gamma = 0 it is cross-entropy: convex
    assert verdict(spec, {"gamma": 2.0})["verdict"] == "disproved"
    v0 = verdict(spec, {"gamma": 0.0})
    assert v0["verdict"] == "proved", v0


def test_msle_nonconvex_in_prediction_where_the_log_error_exceeds_one():
    spec = spec_for("msle")
    w = verdict(spec)["witness"]
    p, t = w["point"]["pred"], w["point"]["target"]
    # f'' = 2 (1 - r) / (1 + p)^2 with r = log1p(p) - log1p(t): negative exactly when r > 1
    assert mpmath.log1p(p) - mpmath.log1p(t) > 1


def test_piecewise_derivative_is_not_trusted_across_a_breakpoint():
    # slope 1 then 1/2: f' decreases at 0, so the loss is concave there.  Piecewise.diff
    # (and sympy's is_convex) see only f'' = 0 on each branch.
    spec = user_spec("concave_pw", "Piecewise((pred - target, pred - target < 0), ((pred - target)/2, True))")
    v = verdict(spec)
    assert v["verdict"] == "disproved", v
    assert v["witness"]["kind"] in ("concave kink", "chord")
    check_witness(spec, v["witness"])
    convex = user_spec("convex_pw", "Piecewise(((pred - target)/2, pred - target < 0), (pred - target, True))")
    assert verdict(convex)["verdict"] == "proved"


def test_negative_dirac_weight_is_a_concave_kink():
    spec = user_spec("neg_abs", "-Abs(pred - target)")
    v = verdict(spec)
    assert v["verdict"] == "disproved" and v["witness"]["kind"] == "concave kink"
    check_witness(spec, v["witness"])


def test_parameter_range_matters():
    # x**2/2 + a*|x|: convex for a >= 0 (the constraint), not for a < 0
    ok = user_spec("abs_plus", "(pred - target)**2/2 + a*Abs(pred - target)")
    text = scaffold("abs_plus", "(pred - target)**2/2 + a*Abs(pred - target)", {"a": 1.0})
    constrained = parse_spec_text(text.replace('description = "parameter a"',
                                               'description = "parameter a"\nconstraint = "a >= 0"'), "<c>")
    assert verdict(constrained)["verdict"] == "proved"
    v = verdict(ok)     # no constraint: a may be negative
    assert v["verdict"] == "disproved" and v["witness"]["point"]["a"] < 0
    check_witness(ok, v["witness"])


def test_branch_and_bound_proves_what_the_symbolic_rules_miss():
    # f'' = r^2 - r + 1 > 0: not DCP (the -r^3 term), not factorable over the rationals
    spec = user_spec("bnb", "(pred - target)**4/12 - (pred - target)**3/6 + (pred - target)**2/2")
    v = verdict(spec)
    assert v["verdict"] == "proved" and v["method"] == "interval branch-and-bound", v


def test_unknown_is_an_honest_answer():
    # f'' = r^2 + 2 cos r - 2 >= 0 (it is r^4/12 - ...), zero only at r = 0: convex, but
    # not DCP, not shown by the symbolic sign rules, and interval enclosures of f'' on a
    # box around 0 always dip below 0 -- so no proof; and no witness can exist.
    spec = user_spec("hard", "(pred - target)**4/12 - 2*cos(pred - target) - (pred - target)**2")
    v = verdict(spec, seconds=20)
    assert v["verdict"] == "unknown", v
    assert v["witness"] is None


def test_joint_convexity_in_several_inputs():
    dpo = verdict(spec_for("dpo"))
    assert dpo["verdict"] == "proved" and set(dpo["inputs"]) == {"policy_chosen_logp", "policy_rejected_logp"}
    spec = spec_for("gaussian_nll")
    g = verdict(spec)
    assert g["verdict"] == "disproved"
    assert g["inputs"]["pred"]["verdict"] == "proved"
    assert g["inputs"]["var"]["verdict"] == "disproved"
    check_witness(spec, g["inputs"]["var"]["witness"])


def test_joint_hessian_eigenvalue_witness():
    # convex in each input separately, not jointly: x*y has Hessian [[0, 1], [1, 0]]
    text = scaffold("saddle", "pred*target", {}).replace(
        'role = "target"\ndomain = "real"', 'role = "prediction"\ndomain = "real"\ndifferentiable = true')
    spec = parse_spec_text(text, "<saddle>")
    v = verdict(spec)
    assert v["verdict"] == "disproved"
    assert v["witness"]["kind"] == "negative Hessian eigenvalue"
    assert float(v["witness"]["value"]) < 0
    assert all(x["verdict"] == "proved" for x in v["inputs"].values())
