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

import functools
import json
import re
import tempfile
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

pytest.importorskip("lark", reason="the LaTeX parser's lark backend needs the `lark` package")

from latex_parse import parse_formula  # noqa: E402
from structured_inputs import random_inputs  # noqa: E402
from test_docs_formulas import formulas_in  # noqa: E402

import lossgen  # noqa: E402
from lossgen.catalog import spec_for  # noqa: E402
from lossgen.docs.pipeline import build_structured_section  # noqa: E402
from lossgen.spec.structure import Axis, AxisReduction, detach, norm_over, take  # noqa: E402
from lossgen.verify.structured_truth import element_symbols, expand, row_truth  # noqa: E402
from lossgen.verify.truth import mp_function  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
STRUCTURED = lossgen.structured_catalog()
ROWS, SIZE = 2, 3
AGREE = mpmath.mpf(10) ** -25
LETTERS = set("ijkluvw")
_BUILT = tempfile.TemporaryDirectory(prefix="lossgen-structured-docs-")


@functools.cache
def built(name: str) -> Path:
    """The section of ``name`` as the current source writes it (.tex, .md, .json in a scratch folder):
    what ``lossgen docs`` would publish, whether or not docs/ has been rebuilt since."""
    folder = Path(_BUILT.name)
    build_structured_section(spec_for(name), folder)
    return folder


def published(name: str) -> list[tuple[str, str, str]]:
    """[(id, lhs, rhs)] of every display formula of the built NAME.tex (every display named)."""
    return formulas_in((built(name) / f"{name}.tex").read_text(encoding="utf-8"), name)


def size_symbol(axis: str) -> sp.Symbol:
    """The number of elements along ``axis`` (rows of the set) in a formula read back."""
    return sp.Symbol(f"@size:{axis}", positive=True)


def placeholder(name: str) -> sp.Symbol:
    """Input ``name`` at the formula's own element (a gradient's x_k)."""
    return sp.Symbol(f"{name}@element", real=True)


class Case:
    """A structured spec, and what its rows are made of (from the spec and its generated module's
    INPUTS and AXES)."""

    def __init__(self, name: str):
        self.spec = spec_for(name)
        self.module = lossgen.get(name).module
        kinds = {i[0]: i[3] for i in self.module.INPUTS}
        self.is_set = tuple(self.module.AXES) == ("set",)
        self.index = {n for n, k in kinds.items() if k == "index"}
        self.axis_inputs = {i.name for i in self.spec.inputs if i.axes}
        #: each input read element by element: its axis (every non-index input of a set loss: the set)
        self.elem_axis = ({n: "set" for n in {i.name for i in self.spec.inputs} - self.index} if self.is_set
                          else {i.name: i.axes[0] for i in self.spec.inputs if i.axes})
        self.axes = tuple(self.module.AXES)
        self.symbols = {i.name: i.symbol for i in self.spec.inputs} | {p.name: p.symbol for p in self.spec.params}

    def _element(self, s) -> tuple[str, str] | None:
        base, sep, sub = s.name.partition("__") if isinstance(s, sp.Symbol) else ("", "", "")
        return (base, sub) if sep and base in self.elem_axis and sub in LETTERS else None

    def _axis_of(self, body, letter: str | None, bound: frozenset) -> str:
        """The axis a reduction runs over, from the inputs its index reads (``letter``; a norm: the
        elements bound by no enclosing reduction)."""
        axes = {self.elem_axis[b] for b, sub in filter(None, map(self._element, body.free_symbols))
                if (sub == letter if letter else sub not in bound)}
        if not axes and len(self.axes) == 1:
            axes = set(self.axes)
        assert len(axes) == 1, f"{self.spec.name}: a reduction over {letter} reads elements of the axes {axes}"
        return axes.pop()

    def convert(self, e, free: str | None, bound: frozenset = frozenset(), norm: bool = False):
        """A parsed formula in the spec's language: x__k -> x (bound by a reduction), or the placeholder
        x@element where k is the formula's own element ``free`` (free="*": an element-level
        subexpression, whose element is the one of the reduction that uses it); x__t -> take(x, t);
        each reduction over the axis of the inputs its index reads; K, K_{a}, n: the axis lengths."""
        if isinstance(e, sp.Symbol):
            if e.name.startswith("bar:"):   # an adjoint, defined by its own formula
                return e
            elem = self._element(e)
            if elem:
                base, sub = elem
                if sub in bound or norm or free == "*":
                    return self.symbols[base]
                assert sub == free, f"element {e} indexed by {sub}, neither bound nor the formula's {free}"
                return placeholder(base)
            base, sep, sub = e.name.partition("__")
            if sep and base in self.axis_inputs and sub in self.index:
                return take(self.symbols[base], self.symbols[sub])
            assert not sep, f"{e}: not an element or a take of {self.spec.name}'s inputs"
            if e.name in self.symbols:
                return self.symbols[e.name]
            if e.name == "n" and self.is_set or e.name == "K" and len(self.axes) == 1 and not self.is_set:
                return size_symbol(self.axes[0])
            size, at, axis = e.name.partition("@")
            if at:
                assert size == "K" and axis in self.axes and len(self.axes) > 1, f"{e}: not a length of an axis"
                return size_symbol(axis)
            return sp.Symbol(e.name)
        if isinstance(e, AxisReduction):
            if isinstance(e, norm_over):
                axis = Axis(self._axis_of(e.args[0], None, bound | ({free} if free else set())))
                return norm_over(self.convert(e.args[0], free, bound, True), axis, self.convert(e.args[2], free, bound))
            letter, _, length = e.args[1].axis_name.partition(":")
            axis = self._axis_of(e.args[0], letter, bound)
            if length:   # the upper bound: the length of the axis the body's elements are along
                want = "n" if self.is_set else "K" if len(self.axes) == 1 else f"K@{axis}"
                assert length == want, f"{self.spec.name}: a reduction over '{axis}' up to {length}, not {want}"
            return e.func(self.convert(e.args[0], free, bound | {letter}, norm), Axis(axis))
        if not e.args:
            return e
        return e.func(*[self.convert(a, free, bound, norm) for a in e.args])

    def at_element(self, e):
        """An element-level subexpression substituted outside a reduction (a gradient's z_k):
        its inputs at the formula's own element."""
        if isinstance(e, (AxisReduction, take)):
            return e
        if isinstance(e, sp.Symbol) and e.name in self.elem_axis and e == self.symbols[e.name]:
            return placeholder(e.name)
        if not e.args:
            return e
        return e.func(*[self.at_element(a) for a in e.args])

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

    def evaluate(self, expr, arrays, row, params, element: int | None = None, letter: str | None = None):
        """``expr`` (spec language, element placeholders and the index ``letter`` for ``element``) at
        one row (or the set), mpmath."""
        if self.is_set:
            size = next(iter(arrays.values())).size
            sizes = {"set": size}
        else:
            sizes = {}
            for n, a in self.elem_axis.items():
                sizes.setdefault(a, np.shape(arrays[n])[-1])
            size = sizes
        elems = element_symbols(self.spec, size, self.is_set)
        indices = {n: int(arrays[n][row]) for n in self.index} if not self.is_set else {}
        placeholders = {s for s in expr.free_symbols if s.name.endswith("@element")}
        if placeholders:
            assert element is not None, f"element placeholders {placeholders} in a formula of the whole row"
            expr = expr.xreplace({s: elems[s.name.split("@")[0]][element] for s in placeholders})
        if element is not None:
            expr = expr.xreplace({sp.Symbol(letter): sp.Integer(element),
                                  sp.Symbol(letter, integer=True): sp.Integer(element)})
        expr = expr.xreplace({size_symbol(a): sp.Integer(k) for a, k in sizes.items()})
        e = expand(self.spec, expr, size, elems, indices)
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


GRADIENT_LHS = re.compile(r"\\frac\{\\partial L\}\{\\partial (?P<x>.+)_\{(?P<k>[a-z])\}\}")


def gradient_letter(fid: str, lhs: str) -> str | None:
    """The index of a gradient's own element, read from its left-hand side (None for other formulas)."""
    if not fid.startswith("gradient/"):
        return None
    m = GRADIENT_LHS.fullmatch(lhs)
    assert m and m["x"] == _tex(fid.split("/", 1)[1]), (fid, lhs)
    return m["k"]


def parsed_formulas(name: str, case: Case, formulas=None) -> list[tuple[str, str, sp.Expr]]:
    """[(id, lhs, expression in the spec's language with every named quantity substituted)]:
    the named subexpressions and reductions first (each may use the earlier ones), then every
    formula with them substituted."""
    formulas = published(name) if formulas is None else formulas
    defs: dict[sp.Symbol, sp.Expr] = {}
    for fid, lhs, rhs in formulas:
        if fid.startswith(("subexpression/", "reduction/", "adjoint/")):
            name_sym = parse_formula(lhs)
            want = fid.split("/", 1)[1]
            if fid.startswith("adjoint/"):
                want = "bar:" + (want.replace("[", "__").rstrip("]") if "[" in want else want)
            assert isinstance(name_sym, sp.Symbol) and name_sym.name == want, (fid, lhs, name_sym)
            assert name_sym.name not in case.symbols, f"{fid} shadows an input or parameter"
            free = "*" if fid.startswith("subexpression/") else None
            expr = case.convert(parse_formula(rhs), free).xreplace(defs)
            assert not {s for s in expr.free_symbols if s.name.endswith("@element")}, \
                f"{fid}: a definition with a free element"
            defs[sp.Symbol(name_sym.name)] = expr
    out = []
    for fid, lhs, rhs in formulas:
        if fid.startswith("property/"):
            continue
        free = gradient_letter(fid, lhs) or ("*" if fid.startswith("subexpression/") else None)
        out.append((fid, lhs, case.at_element(case.convert(parse_formula(rhs), free).xreplace(defs))))
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
                    letter = gradient_letter(fid, lhs)
                    if not case.is_set:   # the index the section states for the input's own axis
                        assert letter == axis_index(name)[case.elem_axis[x]][0], (fid, lhs, case.elem_axis[x])
                    for k, want in enumerate(grads[x]):
                        compare(case.evaluate(expr, arrays, row, params, element=k, letter=letter), want,
                                f"{where} element {k}")
                        checked += 1
                    continue
                elif fid.startswith(("subexpression/", "reduction/", "adjoint/")):
                    continue   # substituted into the formulas checked here
                else:
                    raise AssertionError(f"{name}: unexpected formula {fid}")
                checked += 1
    return checked


AXIS_TEXT = re.compile(r"\(axis \\texttt\{(?P<axis>\w+)\}, index \$(?P<k>[a-z]) = 1, \\dots, (?P<size>[^$]+)\$, "
                       r"inputs (?P<inputs>[^)]*)\)")


def axis_index(name: str) -> dict[str, tuple[str, str]]:
    """Each axis of a (non-set) section as its text states it: (index letter, length)."""
    text = (built(name) / f"{name}.tex").read_text(encoding="utf-8")
    return {m["axis"]: (m["k"], m["size"]) for m in AXIS_TEXT.finditer(text)}


def _tex(name):
    from lossgen.docs.latex import symbol_latex
    return symbol_latex(name)


@pytest.mark.parametrize("name", STRUCTURED)
def test_every_published_structured_formula_is_the_specs_mathematics(name):
    assert check_structured(name) >= 4


@pytest.mark.parametrize("name", STRUCTURED)
def test_every_structured_loss_has_its_section(name):
    spec = spec_for(name)
    folder = built(name)
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
    for fid, lhs, rhs in published(name):
        assert f"{lhs} = {rhs}" in md, f"{name}.md lacks formula {fid}"
    # every axis named with its own index and length, and the inputs along it
    case = Case(name)
    if not case.is_set:
        stated = axis_index(name)
        assert set(stated) == set(case.axes), (name, stated)
        assert len({k for k, _ in stated.values()}) == len({n for _, n in stated.values()}) == len(stated), stated
        for m in AXIS_TEXT.finditer(tex):
            want = {_tex(x) for x, a in case.elem_axis.items() if a == m["axis"]}
            assert set(re.findall(r"\$([^$]+)\$", m["inputs"])) == want, (name, m["axis"], m["inputs"])
    # a gradient through detach is said not to be the derivative of the value
    says = "the gradient below holds the detached factors constant"
    assert (says in tex and says in md) == bool(spec.loss.atoms(detach)), name


@pytest.mark.parametrize("name", STRUCTURED)
def test_the_published_catalog_holds_each_structured_section(name):
    """docs/ as committed (rebuilt by `lossgen docs`): the section, the same as the source writes it, in
    catalog.tex and catalog.md."""
    md = (built(name) / f"{name}.md").read_text(encoding="utf-8")
    assert (DOCS / "catalog" / f"{name}.md").read_text(encoding="utf-8") == md, f"docs/catalog/{name}.md is stale"
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
        for fid, lhs, rhs in published(name):
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
    # two axes: a latent sum up to the feature axis's length
    ("vae", "reduction/", r"\sum_{u=1}^{K_{\mathrm{latent}}}", r"\sum_{u=1}^{K_{\mathrm{feature}}}"),
    # two axes: mu's gradient at an element of the feature axis
    ("vae", "gradient/mu", r"\mu_{u}", r"\mu_{k}"),
    # two axes: the KL gradient in logvar without the -1 of d(-logvar)
    ("vae", "gradient/logvar", r"e^{\mathit{logvar}_{u}} - 1", r"e^{\mathit{logvar}_{u}}"),
    # an element-level subexpression with the other mask
    ("circle", "subexpression/z_n", r"\mathit{negative}_{k} > 0", r"\mathit{positive}_{k} > 0"),
    # the detached factor of a gradient at the other margin
    ("circle", "gradient/", r"\operatorname{sg}\left(\max\left(0, m + ", r"\operatorname{sg}\left(\max\left(0, 2 \cdot m + "),
])
def test_a_wrong_structured_formula_is_caught(name, prefix, old, new):
    """The comparison is not vacuous: a changed index, weight, power, sign or reduction fails."""
    formulas = published(name)
    assert any(old in rhs for fid, _, rhs in formulas if fid.startswith(prefix)), (name, prefix, old)
    with pytest.raises(AssertionError):
        check_structured(name, mutate=_mutated(name, prefix, old, new))
