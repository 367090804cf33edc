"""Convexity of structured losses: proofs by DCP with the reduction atoms, and witnesses of
non-convexity checked here again, independently, at 60 digits."""
import mpmath
import sympy as sp

from lossgen.analysis import analyze
from lossgen.analysis.problem import Problem
from lossgen.analysis.structured import StructuredDCP
from lossgen.catalog import spec_for
from lossgen.spec import parse_spec_text
from lossgen.verify.structured_truth import element_symbols, expand


def test_softmax_cross_entropy_is_proved_convex_in_the_logits():
    r = analyze("softmax_cross_entropy")
    assert r["convex"] is True
    assert r["convexity"]["verdict"] == "proved" and "DCP" in r["convexity"]["method"]


def test_vae_is_proved_convex_in_the_logits_and_the_posterior_parameters():
    """A reduction over each of two axes: softplus of the logits over 'feature', and
    mu**2/2 + (expm1(logvar) - logvar)/2 over 'latent', both convex, beta >= 0."""
    r = analyze("vae")
    assert r["convex"] is True and r["convexity"]["verdict"] == "proved"
    assert set(r["convexity"]["inputs"]) == {"recon_logits", "mu", "logvar"}


def test_kl_divergence_is_proved_convex_in_its_second_argument():
    r = analyze("kl_div")
    assert r["convex"] is True and r["convexity"]["verdict"] == "proved"
    assert "convex in q = exp(input)" in r["convexity"]["evidence"]


def _confirm(name, w):
    """f(midpoint) > (f(a) + f(b))/2 at 60 digits, from the spec written out again."""
    spec = spec_for(name)
    is_set = not any(i.axes for i in spec.inputs)
    elems = element_symbols(spec, w["size"], is_set)
    f = expand(spec, spec.loss, w["size"], elems, {})
    f = f.xreplace({p.symbol: sp.Float(p.default, 60) for p in spec.params})
    by_name = {str(s): s for v in elems.values() for s in v}
    fixed = {by_name[k]: sp.Float(v, 60) for k, v in w["fixed"].items()}

    def at(pt):
        return sp.N(f.xreplace(fixed | {by_name[k]: sp.Float(v, 60) for k, v in pt.items()}), 60)
    with mpmath.workdps(60):
        gap = at(w["midpoint"]) - (at(w["a"]) + at(w["b"])) / 2
    assert gap > 1e-9, gap
    for k in w["a"]:                                       # the midpoint is the midpoint
        assert abs(w["midpoint"][k] - (w["a"][k] + w["b"][k]) / 2) < 1e-15


def test_soft_dice_is_not_convex_with_a_witness():
    r = analyze("soft_dice")
    assert r["convex"] is False and r["convexity"]["verdict"] == "disproved"
    _confirm("soft_dice", r["convexity"]["witness"])


def test_triplet_margin_is_not_convex_with_a_witness():
    r = analyze("triplet_margin")
    assert r["convex"] is False
    _confirm("triplet_margin", r["convexity"]["witness"])


def test_dcp_does_not_prove_a_negatively_weighted_logsumexp():
    spec = parse_spec_text('''
name = "neg_lse"
category = "classification"
loss = "c*logsumexp_over(x, \\"class\\")"
[[inputs]]
name = "x"
axes = ["class"]
[[params]]
name = "c"
default = -1.0
''')
    problem = Problem.build(spec)
    x = problem.input_symbol("x")
    assert StructuredDCP([x], problem.box(problem.inputs + problem.params)).curvature(problem.loss) == "unknown"
    r = analyze(spec)
    assert r["convex"] is not True


def test_cli_show_and_analyze_a_structured_loss():
    import json
    import subprocess
    import sys
    show = subprocess.run([sys.executable, "-m", "lossgen.cli", "show", "softmax_cross_entropy"],
                          capture_output=True, text=True, timeout=300)
    assert show.returncode == 0, show.stderr
    assert "logsumexp_class" in show.stdout and "dL/dlogits_k" in show.stdout and "proved" in show.stdout
    out = subprocess.run([sys.executable, "-m", "lossgen.cli", "analyze", "kl_div", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["convex"] is True


def test_a_loss_of_stable_primitives_gets_a_witness_not_a_failure():
    """ArcFace is softplus(...) of a take and a log-sum-exp: the witness search evaluates the
    stable primitives by their elementary definitions (it once stopped at a NameError), and
    its chord is confirmed here at 60 digits (target class 0, as the search's rows)."""
    from lossgen.primitives.functions import to_elementary
    r = analyze("arcface")
    assert not r["timed_out"]
    assert r["convex"] is False and r["convexity"]["verdict"] == "disproved"
    w = r["convexity"]["witness"]
    spec = spec_for("arcface")
    elems = element_symbols(spec, w["size"], False)
    f = to_elementary(expand(spec, spec.loss, w["size"], elems, {"target": 0}))
    f = f.xreplace({p.symbol: sp.Float(p.default, 60) for p in spec.params})
    by_name = {str(s): s for v in elems.values() for s in v}

    def at(pt):
        return sp.N(f.xreplace({by_name[k]: sp.Float(v, 60) for k, v in (w["fixed"] | pt).items()}), 60)
    with mpmath.workdps(60):
        assert at(w["midpoint"]) - (at(w["a"]) + at(w["b"])) / 2 > 1e-9
