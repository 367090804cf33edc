"""The structured catalog's docs (specs/structured/*.toml -> docs/catalog/NAME.{tex,md,json}):
every loss has its section, in catalog.tex and catalog.md, and every published formula —
the definition, the named subexpressions and reductions, the row loss, the mean weight, the
gradient of each differentiable input — is read back from the LaTeX (tests/latex_parse.py)
and compared NUMERICALLY with the ground truth: the spec written out for small fixed rows
and evaluated, with ``sympy.diff`` of it, in mpmath (lossgen/verify/structured_truth.py).
Nothing here uses the docs' own derivation (lossgen/docs/structured.py) or the chain rule
of lossgen/derive/reductions.py.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

pytest.importorskip("lark", reason="the LaTeX parser's lark backend needs the `lark` package")

from latex_parse import parse_formula  # noqa: E402
from structured_inputs import random_inputs  # noqa: E402
from test_docs_formulas import published  # noqa: E402

import lossgen  # noqa: E402
from lossgen.catalog import spec_for  # noqa: E402
from lossgen.spec.structure import Axis, AxisReduction, norm_over, take  # noqa: E402
from lossgen.verify.structured_truth import element_symbols, expand, row_truth  # noqa: E402
from lossgen.verify.truth import mp_function  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
STRUCTURED = lossgen.structured_catalog()
ROWS, SIZE = 2, 3
AGREE = mpmath.mpf(10) ** -25
LETTERS = set("ijkl")
SIZE_SYMBOL = sp.Symbol("@size", positive=True)


class Case:
    """A structured spec, and what its rows are made of (from the spec and its generated module's INPUTS)."""

    def __init__(self, name: str):
        self.spec = spec_for(name)
        self.module = lossgen.get(name).module
        kinds = {i[0]: i[3] for i in self.module.INPUTS}
        self.is_set = self.module.AXIS == "set"
        self.index = {n for n, k in kinds.items() if k == "index"}
        self.axis_inputs = {i.name for i in self.spec.inputs if i.axes}
        self.elements = {i.name for i in self.spec.inputs} - self.index if self.is_set else self.axis_inputs
        self.axis = Axis(self.module.AXIS)
        self.free = "i" if self.is_set else "k"
        self.symbols = {i.name: i.symbol for i in self.spec.inputs} | {p.name: p.symbol for p in self.spec.params}

    def convert(self, e, bound: frozenset = frozenset(), norm: bool = False):
        """A parsed formula in the spec's language: x__k -> x (bound by a reduction) or an element
        placeholder x@k (the formula's own element), x__t -> take(x, t), reductions over the spec's axis."""
        if isinstance(e, sp.Symbol):
            if e.name.startswith("bar:"):   # an adjoint, defined by its own formula
                return e
            base, sep, sub = e.name.partition("__")
            if sep and base in self.elements and sub in LETTERS:
                if sub in bound or norm:
                    return self.symbols[base]
                assert sub == self.free, f"element {e} indexed by {sub}, neither bound nor the formula's {self.free}"
                return sp.Symbol(f"{base}@element", real=True)
            if sep and base in self.axis_inputs and sub in self.index:
                return take(self.symbols[base], self.symbols[sub])
            assert not sep, f"{e}: not an element or a take of {self.spec.name}'s inputs"
            if e.name == ("n" if self.is_set else "K") and e.name not in self.symbols:
                return SIZE_SYMBOL    # the number of elements along the axis (rows of the set)
            return self.symbols.get(e.name, sp.Symbol(e.name))
        if isinstance(e, AxisReduction):
            if isinstance(e, norm_over):
                return norm_over(self.convert(e.args[0], bound, True), self.axis, self.convert(e.args[2], bound))
            letter = e.args[1].axis_name
            return e.func(self.convert(e.args[0], bound | {letter}, norm), self.axis)
        if not e.args:
            return e
        return e.func(*[self.convert(a, bound, norm) for a in e.args])

    def rows(self, seed: int):
        arrays = random_inputs(self.spec.name, self.module, ROWS, SIZE, np.random.default_rng(seed))
        return dict(zip([i[0] for i in self.module.INPUTS], arrays))

    def param_sets(self):
        """The defaults, and each parameter at another admissible value (1.5 x, 0.5 and 1)."""
        base = {p.name: p.default for p in self.spec.params}
        sets = [base]
        for p in self.spec.params:
            for v in sorted({p.default * 1.5 if p.default else 0.5, 1.0} - {p.default}):
                trial = {**base, p.name: v}
                subs = {q.symbol: sp.Float(trial[q.name]) for q in self.spec.params}
                if all(q.constraint is None or q.constraint.xreplace(subs) is sp.true for q in self.spec.params):
                    sets.append(trial)
        return sets

    def evaluate(self, expr, arrays, row, params, element: int | None = None):
        """``expr`` (spec language, element placeholders for ``element``) at one row (or the set), mpmath."""
        size = (max(np.shape(arrays[n])[-1] for n in self.axis_inputs) if not self.is_set
                else next(iter(arrays.values())).size)
        elems = element_symbols(self.spec, size, self.is_set)
        indices = {n: int(arrays[n][row]) for n in self.index} if not self.is_set else {}
        placeholders = {s for s in expr.free_symbols if s.name.endswith("@element")}
        if placeholders:
            assert element is not None, f"element placeholders {placeholders} in a formula of the whole row"
            expr = expr.xreplace({s: elems[s.name.split("@")[0]][element] for s in placeholders})
        expr = expr.xreplace({sp.Symbol(self.free): sp.Integer(element)} if element is not None else {})
        expr = expr.xreplace({sp.Symbol(self.free, integer=True): sp.Integer(element)} if element is not None else {})
        e = expand(self.spec, expr.xreplace({SIZE_SYMBOL: sp.Integer(size)}), size, elems, indices)
        e = e.xreplace({p.symbol: sp.Float(repr(float(params[p.name])), 60) for p in self.spec.params})
        syms, vals = [], []
        for i in self.spec.inputs:
            if i.name in self.index:
                continue
            a = np.asarray(arrays[i.name], dtype=np.float64)
            if i.name in elems:
                v = a.reshape(-1) if self.is_set else (a[row] if a.ndim == 2 and a.shape[0] > 1 else a.reshape(-1))
                syms += elems[i.name]
                vals += [repr(float(x)) for x in v]
            else:
                syms.append(i.symbol)
                vals.append(repr(float(a[row])))
        left = e.free_symbols - set(syms)
        assert not left, f"{self.spec.name}: symbols {left} are defined by no published formula"
        return mp_function(e, tuple(syms))(*vals)


def parsed_formulas(name: str, case: Case, formulas=None) -> list[tuple[str, str, sp.Expr]]:
    """[(id, lhs, expression in the spec's language with every named quantity substituted)]:
    the named subexpressions and reductions first (each may use the earlier ones), then every
    formula with them substituted."""
    formulas = published(name)[0] if formulas is None else formulas
    defs: dict[sp.Symbol, sp.Expr] = {}
    for fid, lhs, rhs in formulas:
        if fid.startswith(("subexpression/", "reduction/", "adjoint/")):
            name_sym = parse_formula(lhs)
            want = fid.split("/", 1)[1]
            if fid.startswith("adjoint/"):
                want = "bar:" + (want.replace("[", "__").rstrip("]") if "[" in want else want)
            assert isinstance(name_sym, sp.Symbol) and name_sym.name == want, (fid, lhs, name_sym)
            assert name_sym.name not in case.symbols, f"{fid} shadows an input or parameter"
            expr = case.convert(parse_formula(rhs)).xreplace(defs)
            assert not {s for s in expr.free_symbols if s.name.endswith("@element")}, \
                f"{fid}: a definition with a free element"
            defs[sp.Symbol(name_sym.name)] = expr
    out = []
    for fid, lhs, rhs in formulas:
        if fid.startswith("property/"):
            continue
        out.append((fid, lhs, case.convert(parse_formula(rhs)).xreplace(defs)))
    return out


def compare(got, want, what):
    assert mpmath.isfinite(want), f"{what}: the truth is not finite ({want})"
    assert abs(got - want) <= AGREE * (1 + abs(want)), f"{what}: published {got}, truth {want}"


def check_structured(name: str, mutate=None) -> int:
    """Every published formula of ``name`` against the truth on fixed rows; the number of comparisons."""
    case = Case(name)
    spec = case.spec
    formulas = parsed_formulas(name, case) if mutate is None else mutate(case)
    ids = [f for f, _, _ in formulas]
    assert "definition" in ids and "row_loss" in ids, ids
    wrt = tuple(i.name for i in spec.differentiable_inputs) if spec.differentiable else ()
    for w in wrt:
        assert f"gradient/{w}" in ids, f"{name}: no published gradient in {w}"
    assert ("mean_weight" in ids) == ("mean_weight" in spec.extra), ids
    checked = 0
    for seed, params in enumerate(case.param_sets()):
        arrays = case.rows(100 + seed)
        for row in ([None] if case.is_set else range(ROWS)):
            value, grads, mw = row_truth(spec, arrays, row, params, wrt)
            for fid, lhs, expr in formulas:
                where = f"{name} {fid} (row {row}, params {params})"
                if fid in ("definition", "row_loss"):
                    compare(case.evaluate(expr, arrays, row, params), value, where)
                elif fid == "mean_weight":
                    compare(case.evaluate(expr, arrays, row, params), mw, where)
                elif fid.startswith("gradient/"):
                    x = fid.split("/", 1)[1]
                    assert lhs == rf"\frac{{\partial L}}{{\partial {_tex(x)}_{{{case.free}}}}}", (fid, lhs)
                    for k, want in enumerate(grads[x]):
                        compare(case.evaluate(expr, arrays, row, params, element=k), want, f"{where} element {k}")
                        checked += 1
                    continue
                elif fid.startswith(("subexpression/", "reduction/", "adjoint/")):
                    continue   # substituted into the formulas checked here
                else:
                    raise AssertionError(f"{name}: unexpected formula {fid}")
                checked += 1
    return checked


def _tex(name):
    from lossgen.docs.latex import symbol_latex
    return symbol_latex(name)


@pytest.mark.parametrize("name", STRUCTURED)
def test_every_published_structured_formula_is_the_specs_mathematics(name):
    assert check_structured(name) >= 4


@pytest.mark.parametrize("name", STRUCTURED)
def test_every_structured_loss_has_its_section(name):
    spec = spec_for(name)
    folder = DOCS / "catalog"
    tex = (folder / f"{name}.tex").read_text(encoding="utf-8")
    md = (folder / f"{name}.md").read_text(encoding="utf-8")
    record = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))["record"]
    assert record["structured"] and record["name"] == name
    for part in ("Inputs and parameters", "Definition", "Reductions and the row loss", "Properties", "Convex:"):
        assert part in tex, f"{name}.tex lacks {part!r}"
    if spec.differentiable:
        assert r"\subsection*{Gradient}" in tex and "**Gradient**" in md
    assert spec.title in md and spec.summary in md
    for ref in spec.references:
        assert ref.split(" ")[0] in md
    if spec.torch:
        assert f"torch.nn.functional.{spec.torch}" in md
        assert rf"torch.nn.functional.{spec.torch}".replace("_", r"\_") in tex
    for i in spec.inputs:   # every input with its axes and role
        row = next(r for r in record["inputs"] if r["name"] == i.name)
        assert row["role"] == i.role and row["axes"] == (list(i.axes) or (["set"] if record["axis"] == "set" else []))
    verdict = record["properties"]["convexity"]["verdict"]
    assert {"proved": "yes (proved)", "disproved": "no (disproved)"}.get(verdict, "unknown") in tex
    if verdict == "disproved":
        assert "Witness" in tex and "Witness" in md
    # the same formulas in the Markdown, verbatim; the section in the compiled catalog
    formulas, _ = published(name)
    for fid, lhs, rhs in formulas:
        assert f"{lhs} = {rhs}" in md, f"{name}.md lacks formula {fid}"
    assert f"\\input{{catalog/{name}}}" in (DOCS / "catalog.tex").read_text(encoding="utf-8")
    assert md in (DOCS / "catalog.md").read_text(encoding="utf-8")


def test_the_structured_part_is_grouped_by_category():
    text = (DOCS / "catalog.tex").read_text(encoding="utf-8")
    part = text[text.index(r"\part{Structured losses}"):]
    order = re.findall(r"\\input\{catalog/(\w+)\}", part)
    assert sorted(order) == sorted(STRUCTURED)
    cats = [spec_for(n).category for n in order]
    assert cats == sorted(cats), "structured sections not grouped by category"
    assert not set(re.findall(r"\\input\{catalog/(\w+)\}", text[:text.index(r"\part{Structured losses}")])) \
        & set(STRUCTURED)


def _mutated(name, prefix, old, new):
    def mutate(case):
        formulas = []
        for fid, lhs, rhs in published(name)[0]:
            if fid.startswith(prefix) and old in rhs:
                rhs = rhs.replace(old, new, 1)
            formulas.append((fid, lhs, rhs))
        return parsed_formulas(name, case, formulas)
    return mutate


@pytest.mark.parametrize("name, prefix, old, new", [
    # the take's adjoint at the wrong element
    ("softmax_cross_entropy", "gradient/", r"\left[k = \mathit{target}\right]", r"\left[k = \mathit{target} + 1\right]"),
    # a softmax weight of the target's logit instead of the element's
    ("poly1_cross_entropy", "gradient/", r"e^{\mathit{logits}_{k}", r"e^{\mathit{logits}_{\mathit{target}}"),
    # the p-norm's element weight with the wrong power
    ("triplet_margin", "gradient/", r"^{p - 1}", r"^{p}"),
    # a set loss's gradient with the element's target replaced by its prediction
    ("soft_dice", "gradient/", r"\mathit{target}_{i}", r"\mathit{pred}_{i}"),
    # an adjoint with a sign changed: label smoothing's share of the log-sum-exp
    ("softmax_cross_entropy", "adjoint/nll", r"1 - \mathit{label\_smoothing}", r"1 + \mathit{label\_smoothing}"),
    # a reduction's sum taken as a mean
    ("contrastive", "reduction/", r"\sum_{k=1}^{K}", r"\frac{1}{K}\sum_{k=1}^{K}"),
    # a max over the elements read as their sum
    ("crammer_singer", "definition", r"\max_{k}", r"\sum_{k=1}^{K}"),
])
def test_a_wrong_structured_formula_is_caught(name, prefix, old, new):
    """The comparison is not vacuous: a changed index, weight, power, sign or reduction fails."""
    formulas, _ = published(name)
    assert any(old in rhs for fid, _, rhs in formulas if fid.startswith(prefix)), (name, prefix, old)
    with pytest.raises(AssertionError):
        check_structured(name, mutate=_mutated(name, prefix, old, new))
