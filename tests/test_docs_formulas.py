"""Every formula published in docs/catalog/NAME.tex, read back from the LaTeX and shown
equal to the spec's mathematics.

What is checked is the published text: each display formula is found in the .tex file
by the comment naming it (and every display must be named), parsed by SymPy's LaTeX
parser (lark backend; see tests/latex_parse.py) and compared with the ground truth
computed here from the spec alone — the loss as written, ``sympy.diff`` of it — first
symbolically, else numerically with mpmath at random points (30 significant digits).
The Markdown sections must carry the same formulas verbatim.
"""
from __future__ import annotations

import re
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

pytest.importorskip("lark", reason="the LaTeX parser's lark backend needs the `lark` package")

from latex_parse import FormulaError, parse_condition, parse_formula  # noqa: E402

from lossgen.catalog import catalog, spec_for, structured_catalog  # noqa: E402
from lossgen.primitives.functions import to_elementary  # noqa: E402
from lossgen.verify.points import random_points  # noqa: E402
from lossgen.verify.truth import mp_function, spec_args  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "catalog"
FORMULA = re.compile(r"^% formula (?P<id>\S+): .*\n(?:.*\n)??(?:\\begin\{equation\*\}\\fitformula\{(?P<line>.*)\}"
                     r"\\end\{equation\*\}|\\begin\{dmath\*\}(?P<broken>.*)\\end\{dmath\*\})$", re.M)
CONSTRAINT = re.compile(r"^% constraint (?P<name>\w+)\n(?P<row>.*)$", re.M)
SYMBOLIC_MAX_OPS = 120
AGREE = mpmath.mpf(10) ** -30


def published(name: str) -> tuple[list[tuple[str, str, str]], str]:
    """[(id, lhs, rhs)] of every display formula in NAME.tex, and the text."""
    text = (DOCS / f"{name}.tex").read_text(encoding="utf-8")
    return formulas_in(text, name), text


def formulas_in(text: str, name: str) -> list[tuple[str, str, str]]:
    """[(id, lhs, rhs)] of every display formula of a section's LaTeX (every display named)."""
    found = []
    for m in FORMULA.finditer(text):
        lhs, sep, rhs = (m["line"] or m["broken"]).partition(" = ")
        assert sep, f"{name}: formula {m['id']} has no ' = '"
        found.append((m["id"], lhs, rhs))
    displays = text.count(r"\begin{equation*}") + text.count(r"\begin{dmath*}")
    assert displays == len(found), f"{name}.tex: {displays} displays but {len(found)} named formulas"
    return found


def by_name(expr, spec):
    """Parsed symbols -> the spec's symbols (same names)."""
    names = {s.name: s for s in spec_args(spec)} | {s.name: s for s, _ in spec.subexpressions}
    unknown = {s.name for s in expr.free_symbols} - set(names)
    assert not unknown, f"{spec.name}: the formula names {sorted(unknown)}, which the spec does not declare"
    return expr.xreplace({s: names[s.name] for s in expr.free_symbols})


def drop_dirac(e):
    return e.replace(lambda x: isinstance(x, sp.DiracDelta), lambda x: sp.S.Zero)


def _param_sets(spec):
    """Parameter values: the defaults, and each parameter at 1.5 x its default when admissible."""
    base = {p.symbol: p.default for p in spec.params}
    sets = [base]
    for p in spec.params:
        v = {**base, p.symbol: p.default * 1.5 if p.default else 0.5}
        subs = {q.symbol: sp.Float(v[q.symbol]) for q in spec.params}
        if all(q.constraint is None or q.constraint.xreplace(subs) is sp.true for q in spec.params):
            sets.append(v)
    return sets


def same(got, truth, spec, points: int = 6) -> str:
    """'structural', 'symbolic' or 'numeric' when equal; raises AssertionError when not."""
    a, b = to_elementary(got), to_elementary(truth)
    if a == b:
        return "structural"
    if sp.count_ops(a) + sp.count_ops(b) <= SYMBOLIC_MAX_OPS and sp.simplify(a - b) == 0:
        return "symbolic"
    # Dirac terms vanish at random points: their arguments must match exactly
    assert {d.args[0] for d in a.atoms(sp.DiracDelta)} == {d.args[0] for d in b.atoms(sp.DiracDelta)}, \
        f"different Dirac terms: {a.atoms(sp.DiracDelta)} vs {b.atoms(sp.DiracDelta)}"
    args = spec_args(spec)
    fa, fb = mp_function(got, args), mp_function(truth, args)
    rng = np.random.default_rng(8)
    checked = 0
    for params in _param_sets(spec):
        cols = random_points(spec, rng, points)
        for j in range(points):
            vals = [float(c[j]) for c in cols] + [params[p.symbol] for p in spec.params]
            with mpmath.workdps(40):
                try:
                    ta = fa(*vals)
                    tb = fb(*vals)
                except (ValueError, ZeroDivisionError):
                    continue
                if not mpmath.isfinite(tb):
                    continue
                assert abs(ta - tb) <= AGREE * (1 + abs(tb)), \
                    f"differs at {dict(zip([s.name for s in args], vals))}: {ta} vs {tb}"
                checked += 1
    assert checked >= points, f"only {checked} points could be evaluated"
    return "numeric"


def truth_for(fid: str, spec, subexpr_truth: dict):
    """The spec's ground truth for the formula ``fid`` (and whether Dirac terms are dropped)."""
    parts = fid.split("/")
    if fid in ("definition", "numeric", "kernel/loss"):
        return spec.loss, False
    if parts[0] == "subexpression":
        return subexpr_truth[parts[1]], False
    kernel = parts[0] == "kernel"
    parts = parts[1:] if kernel else parts
    wrt = [spec.input(v).symbol for v in parts[1:]]
    assert parts[0] in ("gradient", "hessian") and len(wrt) == (1 if parts[0] == "gradient" else 2), fid
    return sp.diff(spec.loss, *wrt), kernel


def lhs_variables(lhs: str) -> list[str]:
    """Input names a derivative's left-hand side differentiates by."""
    names = re.findall(r"\\partial (\\mathit\{[^}]*\}|\\?[A-Za-z]+(?:_\{[^}]*\})?)", lhs)
    return [str(parse_formula(n)) for n in names if n != "L"]


def check_loss(name: str) -> dict[str, int]:
    spec = spec_for(name)
    formulas, text = published(name)
    ids = [f for f, _, _ in formulas]
    assert "definition" in ids and "kernel/loss" in ids, ids
    if spec.differentiable:
        for i in spec.differentiable_inputs:
            assert f"gradient/{i.name}" in ids and f"hessian/{i.name}/{i.name}" in ids, (name, ids)
    # named subexpressions: each published definition is the spec's, and is substituted
    # into the other formulas (in order: later ones may use earlier ones)
    defs, subexpr_truth, full = [], {}, {}
    for sym, body in spec.subexpressions:
        full[sym] = body.xreplace(full)
        subexpr_truth[sym.name] = full[sym]
    methods: dict[str, int] = {}
    ordered = sorted(formulas, key=lambda f: not f[0].startswith("subexpression/"))   # definitions first
    for fid, lhs, rhs in ordered:
        if fid.startswith("property/"):
            continue
        expr = by_name(parse_formula(rhs), spec)
        for sym, val in reversed(defs):
            expr = expr.xreplace({sym: val})
        truth, ae = truth_for(fid, spec, subexpr_truth)
        if ae:
            truth = drop_dirac(truth)
        if fid.startswith("subexpression/"):
            sym = next(s for s, _ in spec.subexpressions if s.name == fid.split("/")[1])
            defs.append((sym, expr))
            assert lhs.strip() == parse_formula_lhs(lhs, sym.name), (fid, lhs)
        elif "gradient/" in fid or "hessian/" in fid:
            wanted = fid.split("/")[-2:] if "hessian/" in fid else fid.split("/")[-1:]
            got = lhs_variables(lhs)
            assert sorted(set(got)) == sorted(set(wanted)), f"{name} {fid}: lhs {lhs!r} names {got}"
        else:
            assert lhs == "L", (fid, lhs)
        try:
            how = same(expr, truth, spec)
        except AssertionError as exc:
            raise AssertionError(f"{name}: published formula {fid} is not the spec's mathematics: {exc}\n"
                                 f"  published: {rhs}\n  parsed:    {expr}\n  truth:     {truth}") from None
        methods[how] = methods.get(how, 0) + 1
    # every published formula is also in the Markdown section, verbatim
    md = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    for fid, lhs, rhs in formulas:
        assert f"{lhs} = {rhs}" in md, f"{name}.md lacks formula {fid}"
    return methods


def parse_formula_lhs(lhs: str, name: str) -> str:
    """The lhs of a subexpression definition must read as that name."""
    got = parse_formula(lhs)
    assert isinstance(got, sp.Symbol) and got.name == name, (lhs, got)
    return lhs.strip()


@pytest.mark.parametrize("name", catalog())
def test_every_published_formula_is_the_specs_mathematics(name):
    methods = check_loss(name)
    assert sum(methods.values()) >= 3


@pytest.mark.parametrize("name", catalog() + structured_catalog())
def test_published_constraints_are_the_specs(name):
    spec = spec_for(name)
    text = (DOCS / f"{name}.tex").read_text(encoding="utf-8")
    rows = {m["name"]: m["row"] for m in CONSTRAINT.finditer(text)}
    assert set(rows) == {p.name for p in spec.params}
    for p in spec.params:
        cells = rows[p.name].split(" & ")
        assert float(cells[1]) == pytest.approx(p.default, rel=1e-3), (p.name, cells)
        if p.constraint is None:
            assert cells[2] == "--"
            continue
        got = by_name(parse_condition(cells[2].strip("$")), spec)
        for v in (-2.0, -1.0, -0.5, 0.0, 1e-3, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, p.default):
            subs = {q.symbol: sp.Float(v if q is p else q.default) for q in spec.params}
            assert bool(got.xreplace(subs)) == bool(p.constraint.xreplace(subs)), (p.name, v, got, p.constraint)


@pytest.mark.parametrize("name", catalog())
def test_published_influence_bound_matches_the_gradient(name):
    """sup|psi| as published: its value at the defaults is what the section prints next
    to it, and for location losses it bounds |dL/dpred| from the spec, tightly."""
    spec = spec_for(name)
    formulas, text = published(name)
    found = [rhs for fid, _, rhs in formulas if fid == "property/influence_bound"]
    if not found:
        pytest.skip("no symbolic influence bound published")
    bound = by_name(parse_formula(found[0]), spec).xreplace({p.symbol: p.default for p in spec.params})
    printed = re.search(r"\$\\approx (\S+)\$ at the defaults", text)
    if bound != sp.oo:
        assert printed and float(bound) == pytest.approx(float(printed.group(1)), rel=1e-3)
    if not re.search(r"\\texttt\{pred - target\}", text):
        return
    x = spec.input("pred").symbol
    from lossgen.verify.floats import float_function
    g = float_function(sp.diff(spec.loss, x), spec_args(spec))
    r = np.concatenate([np.linspace(-50, 50, 200001), np.geomspace(1e-3, 1e8, 2000), -np.geomspace(1e-3, 1e8, 2000)])
    vals = [r, np.zeros_like(r)] + [np.full_like(r, p.default) for p in spec.params]
    psi = np.abs(g(*vals))
    if bound == sp.oo:
        assert np.nanmax(psi) > 1e6, "published unbounded, but |psi| stays small"
        return
    assert np.nanmax(psi) <= float(bound) * (1 + 1e-9) + 1e-12
    assert np.nanmax(psi) >= float(bound) * (1 - 1e-3)


CONSTANT = re.compile(r"\\textbf\{(?P<what>Lipschitz|Smoothness) constant\}[^:]*: \$(?P<tex>[^$]+)\$ "
                      r"\(\$\\approx (?P<approx>[^$]+)\$\)")


@pytest.mark.parametrize("name", catalog())
def test_published_lipschitz_and_smoothness_constants(name):
    """sup|L'| and sup|L''| as published: parsed back, equal at the defaults to the number
    printed beside them, and for location losses checked against a scan of the spec's
    own derivative (difference quotients of L' for the smoothness constant, so a jump of
    L' shows as an unbounded one)."""
    spec = spec_for(name)
    text = (DOCS / f"{name}.tex").read_text(encoding="utf-8")
    found = {m["what"]: m for m in CONSTANT.finditer(text)}
    if not spec.differentiable:
        assert not found
        return
    assert set(found) == {"Lipschitz", "Smoothness"}, f"{name}: constants not published as formulas"
    defaults = {p.symbol: p.default for p in spec.params}
    values = {}
    for what, m in found.items():
        value = by_name(parse_formula(m["tex"]), spec).xreplace(defaults)
        values[what] = value
        if value != sp.oo:
            assert float(value) == pytest.approx(float(m["approx"]), rel=1e-3), (what, value, m["approx"])
    if not re.search(r"\\texttt\{pred - target\}", text):
        return
    from lossgen.verify.floats import float_function
    x = spec.input("pred").symbol
    r = np.linspace(-50, 50, 200001)
    cols = [r, np.zeros_like(r)] + [np.full_like(r, p.default) for p in spec.params]
    d1 = float_function(sp.diff(spec.loss, x), spec_args(spec))(*cols)
    slope = np.abs(np.diff(d1) / np.diff(r))
    wide = np.concatenate([np.geomspace(1e-3, 1e8, 2000), -np.geomspace(1e-3, 1e8, 2000)])
    d1_wide = float_function(sp.diff(spec.loss, x), spec_args(spec))(
        wide, np.zeros_like(wide), *[np.full_like(wide, p.default) for p in spec.params])
    lipschitz = max(np.nanmax(np.abs(d1)), np.nanmax(np.abs(d1_wide)))
    if values["Lipschitz"] == sp.oo:
        assert lipschitz > 1e6, "published unbounded, but |L'| stays small"
    else:
        assert float(values["Lipschitz"]) * (1 - 1e-3) <= lipschitz <= float(values["Lipschitz"]) * (1 + 1e-9) + 1e-12
    if values["Smoothness"] == sp.oo:
        d2_wide = float_function(sp.diff(spec.loss, x, 2), spec_args(spec))(
            wide, np.zeros_like(wide), *[np.full_like(wide, p.default) for p in spec.params])
        # a jump of L' of size 0.1 or more shows as a difference quotient over 100
        assert np.nanmax(slope) > 100 or np.nanmax(np.abs(d2_wide)) > 1e6, "published unbounded, but L' is smooth"
    else:
        bound = float(values["Smoothness"])
        assert np.nanmax(slope) <= bound * (1 + 1e-6) + 1e-9
        assert np.nanmax(slope) >= bound * (1 - 1e-2)


def test_a_wrong_formula_is_caught():
    """The comparison is not vacuous: a changed sign, factor or branch fails."""
    spec = spec_for("huber")
    formulas, _ = published("huber")
    rhs = dict((f, r) for f, _, r in formulas)["gradient/pred"]
    truth = sp.diff(spec.loss, spec.input("pred").symbol)
    r = next(s for s, _ in spec.subexpressions if s.name == "r")
    full = spec.subexpressions[0][1]
    for wrong in (rhs.replace(r"\delta \cdot", r"2 \cdot \delta \cdot"), rhs.replace(r"\ge", "<"),
                  rhs.replace(r"\begin{cases} r", r"\begin{cases} - r")):
        assert wrong != rhs
        expr = by_name(parse_formula(wrong), spec).xreplace({r: full})
        with pytest.raises(AssertionError):
            same(expr, truth, spec)


@pytest.mark.parametrize("tex, want", [
    (r"\frac{\mathit{pred}^{2}}{2}", "pred**2/2"),
    (r"\sigma\left(- x\right) \cdot \operatorname{softplus}\left(x\right)", "sigmoid(-x)*softplus(x)"),
    (r"\begin{cases} x & \text{if } x > 0 \\ 0 & \text{otherwise} \end{cases}", "Piecewise((x, x > 0), (0, True))"),
    (r"\log\left(1 - x\right) + e^{x} \cdot \pi", "log(1 - x) + pi*exp(x)"),
    (r"\alpha_{t} \cdot \mathit{label\_smoothing}", "alpha_t*label_smoothing"),
])
def test_the_reader_reads_the_catalog_dialect(tex, want):
    from lossgen.primitives.functions import sigmoid, softplus
    got = parse_formula(tex)
    names = {s.name: s for s in got.free_symbols}
    expected = sp.parse_expr(want, local_dict={"sigmoid": sigmoid, "softplus": softplus, **names})
    assert sp.simplify(got - expected) == 0 if not isinstance(got, sp.Piecewise) else got == expected


def test_the_reader_refuses_what_it_cannot_read():
    with pytest.raises(FormulaError):
        parse_formula(r"\begin{cases} x & x > 0 \end{cases}")
    with pytest.raises(FormulaError):
        parse_formula(r"\operatorname{softplus}\left(x")
