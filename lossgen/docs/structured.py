r"""The record of one *structured* catalog loss (``specs/structured/NAME.toml``): a loss
that reduces over an axis of its inputs (classes, embedding dimensions, tasks) or over
the whole set, documented like the elementwise catalog (:mod:`.facts`) from the spec,
the chain rule of :mod:`lossgen.derive.reductions` and :mod:`lossgen.analysis`.

Formulas (each with an id, a left-hand side and its source, as in :mod:`.facts`):

* ``definition``: the loss as the spec writes it, reductions inline;
* ``subexpression/NAME``: the spec's named subexpressions;
* ``reduction/NAME``: every reduction of the row program (:func:`row_program`) that no
  subexpression names, as :math:`r_{j}`;
* ``row_loss``: the row loss :math:`F(s, x_t, r)` the chain rule starts from;
* ``mean_weight``: a row's share of the divisor of ``reduction="mean"`` (when the spec has one);
* ``adjoint/NAME``, ``adjoint/X[T]``: the adjoint :math:`\bar r = dL/dr` of each reduction and
  :math:`\bar x_t` of each take that a gradient uses (printed ``\bar{r}``, ``\bar{x_{t}}``);
* ``gradient/X``: :math:`\partial L/\partial x_k` of each differentiable input, by the chain
  rule through the reductions (adjoints times element weights, plus the adjoint of a take at
  its index), as :func:`lossgen.derive.reductions.element_gradient` computes it.

The notation: an element of an input along its axis is ``x_{k}`` (``x_{i}`` over the set),
a take ``take(x, t)`` is ``x_{t}``.  A spec with one axis indexes it by k of K; a spec with
several (the VAE's ``feature`` and ``latent``) gives each axis its own index letter and length
(k of ``K_{\mathrm{feature}}``, u of ``K_{\mathrm{latent}}``, :func:`axis_notation`): every
reduction is written over its own axis, and the gradient of an input at an element of that
input's axis.  A named subexpression that reads elements outside any reduction (circle's
``z_p``) is one value per element: it is printed at its axis's index and stands, where it is
used, for the element of the enclosing reduction (or of the gradient).  ``detach(x)`` is
``\operatorname{sg}(x)`` (stop-gradient): value x, derivative 0, so a gradient through it is not
the derivative of the value (the section says so).  The reductions are written

* sum: ``\sum_{k=1}^{K}\left(e\right)``; mean: ``\frac{1}{K}\sum_{k=1}^{K}\left(e\right)``;
* logsumexp: ``\log\left(\sum_{k=1}^{K} e^{e}\right)``; max: ``\max_{k}\left(e\right)``;
* p-norm: ``\left\|e\right\|_{p}`` (over the element index);

with ``j`` for a sum inside a gradient (whose own element is ``k``), ``\left[c\right]`` for
the Iverson bracket (1 where c holds, else 0).  One reading each, so the tests read every
formula back (``tests/latex_parse.py``) and compare it with the spec written out in mpmath.
"""
from __future__ import annotations

import functools

import sympy as sp

from ..spec.model import Spec
from ..spec.structure import Axis, AxisReduction, detach, logsumexp_over, max_over, mean_over, norm_over, sum_over, take
from .facts import fold
from .latex import CatalogLatexPrinter, symbol_latex

#: name -> (NLL of which distribution, typical use), as :mod:`.notes` for the elementwise catalog
NOTES: dict[str, tuple[str | None, str]] = {
    "arcface": (None, "face recognition (additive angular margin)"),
    "contrastive": (None, "siamese networks, metric learning on pairs"),
    "cosface": (None, "face recognition (additive cosine margin)"),
    "cosine_embedding": (None, "similarity learning on pairs of embeddings"),
    "crammer_singer": (None, "multiclass max-margin classification (SVM)"),
    "focal_tversky": (None, "segmentation of small structures"),
    "info_nce": ("categorical (positive among the candidates)", "contrastive representation learning"),
    "jensen_shannon": (None, "distribution matching, distillation"),
    "kl_div": (None, "distillation, variational inference"),
    "multi_margin": (None, "multiclass max-margin classification"),
    "multiclass_focal": (None, "dense detection, class imbalance (multiclass)"),
    "poly1_cross_entropy": ("categorical (plus a polynomial term)", "classification"),
    "rmsle": (None, "regression of non-negative, relative errors"),
    "soft_dice": (None, "segmentation (overlap)"),
    "soft_jaccard": (None, "segmentation (intersection over union)"),
    "softmax_cross_entropy": ("categorical", "multiclass classification"),
    "triplet_margin": (None, "metric learning on triplets"),
    "tversky": (None, "segmentation with weighted false positives/negatives"),
    "uncertainty_weighting": ("Gaussian (learned variance per task)", "multi-task learning"),
}
AXIS_WORDS = {"class": "classes", "embed": "embedding dimensions", "set": "the whole set (batch)",
              "task": "tasks", "pair": "candidates"}

#: index letters of each axis in order of appearance (the element, then the bound index of a sum
#: written inside a gradient); over the set, rows i of n
_LETTERS = (("k", "j", "l"), ("u", "v", "w"))
_SET_LETTERS = ("i", "j", "l")


def axis_notation(prog) -> dict[str, tuple[tuple[str, ...], str]]:
    r"""Each axis of a row program: (its index letters, the LaTeX of its length).  One axis is
    indexed by k of K; several by k, u of :math:`K_{\mathrm{axis}}` each; the set by i of n."""
    if prog.is_set:
        return {"set": (_SET_LETTERS, "n")}
    if len(prog.axes) > len(_LETTERS):
        raise ValueError(f"{prog.spec.name}: {len(prog.axes)} axes, the docs have index letters for {len(_LETTERS)}")
    if len(prog.axes) == 1:
        return {prog.axes[0]: (_LETTERS[0], "K")}
    return {a: (_LETTERS[j], rf"K_{{\mathrm{{{a}}}}}") for j, a in enumerate(prog.axes)}


class StructuredLatexPrinter(CatalogLatexPrinter):
    """The catalog printer with reductions over an index, takes as ``x_{t}``, elements
    as ``x_{k}`` (the index of the element's own axis) and Iverson brackets (see the
    module docstring).  ``element_axis``: each element input's axis; ``notation``: each
    axis's letters and length (:func:`axis_notation`); ``sizes``: the length symbols of
    the row program (``axis_size``) by axis; ``free``: (axis, letter) of a gradient's element."""

    def __init__(self, element_axis: dict[str, str], notation: dict, sizes: dict[sp.Symbol, str],
                 free: tuple[str, str] | None = None, adjoints: dict[str, str] | None = None):
        super().__init__()
        self.adjoints = adjoints or {}
        self.element_axis = element_axis
        self.notation = notation
        self.sizes = sizes
        self.stack: list[tuple[str, str]] = [free] if free else []

    def _next_letter(self, axis: str) -> str:
        used = {letter for _, letter in self.stack}
        return next(x for x in self.notation[axis][0] if x not in used)

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in self.adjoints:
            return self.adjoints[expr.name]
        if expr in self.sizes:
            return self.notation[self.sizes[expr]][1]
        if expr.name in self.element_axis:
            axis = self.element_axis[expr.name]
            letter = next((x for a, x in reversed(self.stack) if a == axis), None)
            if letter is None:
                raise ValueError(f"element {expr.name} outside a reduction over '{axis}' and without an index")
            return f"{symbol_latex(expr.name)}_{{{letter}}}"
        return symbol_latex(expr.name)

    def _print(self, expr, **kwargs):
        if isinstance(expr, take):
            arr, idx = expr.args
            inner = f"{symbol_latex(arr.name)}_{{{symbol_latex(idx.name)}}}"
            exp = kwargs.get("exp")
            return inner if exp is None else f"{inner}^{{{exp}}}"
        if isinstance(expr, AxisReduction):
            inner = self._reduction(expr)
            exp = kwargs.get("exp")
            return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"
        if isinstance(expr, detach):
            return self._named(r"\operatorname{sg}", expr.args, kwargs.get("exp"))
        if isinstance(expr, (sp.sin, sp.cos)):   # SymPy's \sin{\left(m \right)} has more than one reading
            return self._named("\\" + type(expr).__name__, expr.args, kwargs.get("exp"))
        if (isinstance(expr, sp.Piecewise) and len(expr.args) == 2 and expr.args[0][0] == 1
                and expr.args[1][0] == 0 and expr.args[1][1] is sp.true):
            # braced: breqn breaks a long formula at relations, never inside a group
            return r"{\left[" + self._print(expr.args[0][1]) + r"\right]}"
        return super()._print(expr, **kwargs)

    def _print_Integer(self, expr, **kwargs):
        """A large integer m * 10^e (|m| < 1000; a mask's -10^{300}) in powers of ten, not 300 digits."""
        n, e = int(expr), 0
        while abs(n) >= 10**15 and n % 10 == 0:
            n, e = n // 10, e + 1
        while abs(n) >= 10 and n % 10 == 0 and e:
            n, e = n // 10, e + 1
        if e == 0 or abs(n) >= 1000:
            return str(expr)
        sign, m = ("- " if n < 0 else ""), abs(n)
        return f"{sign}10^{{{e}}}" if m == 1 else rf"{sign}{m} \cdot 10^{{{e}}}"

    def _reduction(self, node: AxisReduction) -> str:
        axis = node.args[1].axis_name
        letter = self._next_letter(axis)
        size = self.notation[axis][1]
        self.stack.append((axis, letter))
        try:
            body = self._print(node.args[0])
        finally:
            self.stack.pop()
        over = rf"\sum_{{{letter}=1}}^{{{size}}}"
        if isinstance(node, sum_over):
            return rf"{over}\left({body}\right)"
        if isinstance(node, mean_over):
            return rf"\frac{{1}}{{{size}}}{over}\left({body}\right)"
        if isinstance(node, logsumexp_over):
            return rf"\log\left({over} e^{{{body}}}\right)"
        if isinstance(node, max_over):
            return rf"\max_{{{letter}}}\left({body}\right)"
        if isinstance(node, norm_over):
            p = node.args[2] if len(node.args) > 2 else sp.Integer(2)
            return rf"\left\|{body}\right\|_{{{self._print(p)}}}"
        raise ValueError(f"no LaTeX for the reduction {type(node).__name__}")


def _reduction_class(op: str):
    return {"sum": sum_over, "mean": mean_over, "max": max_over, "logsumexp": logsumexp_over,
            "norm": norm_over}[op]


def _partial(v: str) -> str:
    return rf"\frac{{\partial L}}{{\partial {v}}}"


@functools.cache
def _program(spec: Spec):
    from ..derive.reductions import row_program
    return row_program(spec)


def program_facts(spec: Spec) -> dict:
    """The row program in plain terms: the axes, which inputs have which, takes and reductions,
    adjoints and the gradient of each differentiable input over its own axis."""
    from ..derive.reductions import axis_size, chain_sums, d, element_gradient
    prog = _program(spec)
    # the reductions and takes as nodes of the spec's language again (for the names and the printer)
    take_nodes = {t.symbol: take(spec.input(t.array).symbol, spec.input(t.index).symbol) for t in prog.takes}
    nodes: dict[sp.Symbol, sp.Basic] = {}
    for red in sorted(prog.reductions, key=lambda r: r.level):
        body = red.body.xreplace(take_nodes).xreplace(nodes)
        cls = _reduction_class(red.op)
        nodes[red.symbol] = cls(body, Axis(red.axis), red.p) if red.op == "norm" else cls(body, Axis(red.axis))
    # a reduction that is one of the spec's named subexpressions takes its name; the others r_1, r_2, ...
    full = {}
    for sym, body in spec.subexpressions:
        full[sym] = body.xreplace(full)
    by_node = {v: k for k, v in full.items()}
    names: dict[sp.Symbol, sp.Symbol] = {}
    unnamed = 0
    for red in prog.reductions:
        node = nodes[red.symbol]
        if node in by_node:
            names[red.symbol] = by_node[node]
        else:
            unnamed += 1
            names[red.symbol] = sp.Symbol(f"r_{unnamed}", real=True)
    taken = {s: take_nodes[s] for s in take_nodes}

    named = [(sym, f) for sym, f in full.items() if sym not in set(names.values())]

    def show(e):
        """A row-program expression in printable terms (reductions by name, takes as nodes,
        the spec's other named subexpressions by name)."""
        return fold(e.xreplace(names).xreplace(taken), named)

    def iverson(cond):
        return sp.Piecewise((sp.S.One, cond), (sp.S.Zero, True))

    def weight(red, e):
        """D = d op / d e_k, the arg-max indicator written as [e_k = r]."""
        if red.op == "max":
            return iverson(sp.Eq(e, red.symbol))
        if red.op == "norm":    # the kernels' 0 where r = 0 is stated in the text, not as cases
            return sp.sign(e) * sp.Abs(e) ** (red.p - 1) / red.symbol ** (red.p - 1)
        return red.weight(e)

    # adjoints, top level first: rbar_j = dF/dr_j + sum_i rbar_i sum_k D_ik de_ik/dr_j (i above j),
    # each a symbol of its own in the formulas that use it (printed \bar{r_j}, \bar{x_t}); the
    # per-element terms are derive.reductions' own (chain_sums, element_gradient) with the
    # element weights above
    bar = {red.symbol: sp.Symbol(f"_bar_r{j}", real=True) for j, red in enumerate(prog.reductions)}
    bar |= {t.symbol: sp.Symbol(f"_bar_t{m}", real=True) for m, t in enumerate(prog.takes)}
    weights = {red.symbol: weight(red, red.body) for red in prog.reductions}

    def inner_sum(var, above):
        """sum_i rbar_i sum_k D_ik de_ik/dv over the reductions above, each sum over its own axis."""
        total = sp.S.Zero
        for a in prog.axes:
            term = chain_sums(prog, var, bar, above, weights, axis=a)
            if term != 0:
                total += sum_over(term, Axis(a))
        return total

    adjoint: dict[sp.Symbol, sp.Expr] = {}
    for red in prog.reductions:
        adjoint[red.symbol] = d(prog.row_loss, red.symbol) + inner_sum(red.symbol, red.level)
    for t in prog.takes:
        adjoint[t.symbol] = d(prog.row_loss, t.symbol) + inner_sum(t.symbol, 0)
    notation = axis_notation(prog)
    element_axis = element_axes(prog)
    grads, free = {}, {}
    for x in prog.diff_element_inputs:
        axis = element_axis[x]
        free[x] = (axis, notation[axis][0][0])
        k = sp.Symbol(free[x][1], integer=True)
        g = element_gradient(prog, x, bar, weights)
        for t in prog.grad_takes:
            if t.array == x:
                g += bar[t.symbol] * iverson(sp.Eq(k, spec.input(t.index).symbol))
        grads[x] = show(g)
    # the adjoints the gradients use (and those they use), in the order of the row program
    used: set[sp.Symbol] = set()
    todo = [s for g in grads.values() for s in g.free_symbols if s in bar.values()]
    by_bar = {b: s for s, b in bar.items()}
    while todo:
        b = todo.pop()
        if b not in used:
            used.add(b)
            todo += [s for s in adjoint[by_bar[b]].free_symbols if s in bar.values()]
    order = [r.symbol for r in prog.reductions] + [t.symbol for t in prog.takes]
    adjoints = [(bar[s], show(adjoint[s])) for s in order if bar[s] in used]
    return {"prog": prog, "nodes": nodes, "names": names, "show": show, "grads": grads, "free": free,
            "notation": notation, "element_axis": element_axis, "sizes": {axis_size(a): a for a in prog.axes},
            "adjoints": adjoints, "bar": bar, "taken": taken}


def element_axes(prog) -> dict[str, str]:
    """Each input that formulas index element by element: its axis (every input of a set loss: the set)."""
    if prog.is_set:
        return {x: "set" for x in prog.element_inputs}
    return {x: prog.input_axis[x] for x in prog.axis_inputs}


def element_level(body: sp.Expr, element_axis: dict[str, str]) -> str | None:
    """The axis of a subexpression that reads elements outside any reduction (one value per
    element, used inside reductions over that axis), or None for a row value."""
    held = body.xreplace({r: sp.Dummy() for r in body.atoms(AxisReduction) | body.atoms(take)})
    axes = {element_axis[s.name] for s in held.free_symbols if s.name in element_axis}
    if len(axes) > 1:
        raise ValueError(f"a subexpression reads elements of several axes outside reductions: {sorted(axes)}")
    return axes.pop() if axes else None


def adjoint_latex(facts: dict) -> dict[str, str]:
    r"""The LaTeX of each adjoint symbol: \bar{r} for a reduction named r, \bar{x_{t}} for a take."""
    out = {}
    for s, b in facts["bar"].items():
        if s in facts["names"]:
            inner = symbol_latex(facts["names"][s].name)
        else:
            node = facts["taken"][s]
            inner = f"{symbol_latex(node.args[0].name)}_{{{symbol_latex(node.args[1].name)}}}"
        out[b.name] = rf"\bar{{{inner}}}"
    return out


def adjoint_id(facts: dict, b: sp.Symbol) -> str:
    s = next(s for s, v in facts["bar"].items() if v == b)
    if s in facts["names"]:
        return f"adjoint/{facts['names'][s].name}"
    node = facts["taken"][s]
    return f"adjoint/{node.args[0].name}[{node.args[1].name}]"


def formulas(spec: Spec) -> list[dict]:
    """Every formula of a structured section, in order (see the module docstring)."""
    facts = program_facts(spec)
    prog = facts["prog"]
    src = spec.source_path.rsplit("/", 1)[-1] if spec.source_path else f"{spec.name}.toml"

    bars = adjoint_latex(facts)

    def tex(e, free=None):
        return StructuredLatexPrinter(facts["element_axis"], facts["notation"], facts["sizes"], free,
                                      bars).doprint(e)

    def formula(fid, lhs, e, source, free=None):
        return {"id": fid, "lhs": lhs, "tex": tex(e, free), "source": source}

    out = [formula("definition", "L", spec.loss_body, f"the spec ({src}, key loss), as written")]
    for sym, body in spec.subexpressions:
        axis = element_level(body, facts["element_axis"])
        free = (axis, facts["notation"][axis][0][0]) if axis else None
        out.append(formula(f"subexpression/{sym.name}", symbol_latex(sym.name), body,
                           f"the spec ({src}, [expressions] {sym.name})"
                           + (f", one value per element {free[1]} of the axis {axis}" if axis else ""), free=free))
    named = {sym for sym, _ in spec.subexpressions}
    for red in prog.reductions:
        name = facts["names"][red.symbol]
        if name in named:
            continue
        node = facts["nodes"][red.symbol]
        body = node.args[0].xreplace({v: facts["names"][k] for k, v in facts["nodes"].items() if v != node})
        node = node.func(body, *node.args[1:])
        out.append(formula(f"reduction/{name.name}", symbol_latex(name.name), node,
                           f"lossgen.derive.reductions.row_program: a {red.op} over the "
                           f"{'set' if prog.is_set else 'axis ' + red.axis}"))
    out.append(formula("row_loss", "L", facts["show"](prog.row_loss),
                       "lossgen.derive.reductions.row_program: the " + ("set" if prog.is_set else "row")
                       + " loss in the reductions and takes, which the chain rule starts from"))
    if prog.mean_weight is not None:
        out.append(formula("mean_weight", r"\mathit{mean\_weight}", facts["show"](prog.mean_weight),
                           f"the spec ({src}, key mean_weight): a row's share of the divisor of reduction='mean'"))
    for b, a in facts["adjoints"]:
        out.append(formula(adjoint_id(facts, b), bars[b.name], a,
                           "lossgen.derive.reductions: the adjoint (the derivative of L in this reduction or take) "
                           "from the row loss, and from the reductions above it"))
    for x, g in facts["grads"].items():
        axis, letter = facts["free"][x]
        out.append(formula(f"gradient/{x}", _partial(f"{symbol_latex(x)}_{{{letter}}}"), g,
                           "lossgen.derive.reductions: the chain rule through the reductions "
                           "(adjoints times element weights, plus a take's adjoint at its index)"
                           + ("" if prog.is_set else f", element {letter} of the axis {axis}"), free=(axis, letter)))
    return out


def spec_facts(spec: Spec) -> dict:
    from .facts import spec_facts as elementwise_facts
    prog = _program(spec)
    out = elementwise_facts(spec)
    for row, i in zip(out["inputs"], spec.inputs):
        row["axes"] = list(i.axes) or (["set"] if prog.is_set else [])
        row["kind"] = ("index" if i.name in prog.index_inputs else "axis" if i.axes
                       else "element" if prog.is_set else "row")
    notation = axis_notation(prog)
    axes = [{"name": a, "words": AXIS_WORDS.get(a, a), "index": notation[a][0][0], "size": notation[a][1],
             "inputs": [x for x, ax in element_axes(prog).items() if ax == a]} for a in prog.axes]
    out.update(axis=prog.axis, axes=axes, axis_words=", ".join(x["words"] for x in axes),
               structured=True, has_mean_weight=prog.mean_weight is not None,
               detach=bool(spec.loss.atoms(detach)))
    return out


def gather(spec: Spec, analysis: dict) -> dict:
    """The record of one structured loss: spec facts, formulas, properties, summary row."""
    from .facts import properties
    props = properties(analysis, spec)
    record = spec_facts(spec)
    nll, use = NOTES.get(spec.name, (None, spec.category))
    record.update(formulas=formulas(spec), properties=props,
                  row={"convex": props.get("convex"), "differentiable": None, "bounded_influence": None,
                       "nll": nll or "-", "use": use})
    return record


def _element(name: str, markdown: bool) -> str:
    """A witness coordinate ``x__j`` (element j, from 0) as x_{j+1}, in the section's 1-based index."""
    base, sep, j = name.rpartition("__")
    if not sep or not j.isdigit():
        return f"${symbol_latex(name)}$" if not markdown else name
    if markdown:
        return f"{base}[{int(j) + 1}]"
    return f"${symbol_latex(base)}_{{{int(j) + 1}}}$"


def _helpers(record: dict, markdown: bool) -> dict:
    from .section import _helpers as section_helpers
    from .section import num, tex_escape
    helpers = section_helpers(record, markdown)

    def point(pt):
        sep = " = "
        return ", ".join(f"{_element(k, markdown)}{sep}{num(v)}" for k, v in pt.items())

    def formula(f):
        if markdown:
            return f"\n*{f['source']}:*\n\n$$\n{f['lhs']} = {f['tex']}\n$$\n"
        return (f"% formula {f['id']}: {f['source']}\n\\noindent\\emph{{{tex_escape(f['source'])}:}}\n"
                + display(f"{f['lhs']} = {f['tex']}"))
    helpers.update(point=point, mdpoint=point, formula=formula)
    return helpers


def display(body: str) -> str:
    """A display formula: breqn's ``dmath*`` breaks a long one across lines, but not inside a
    ``cases`` environment, so one with cases is set on one line, shrunk to the line width."""
    from .section import LONG_FORMULA
    if len(body) > LONG_FORMULA and r"\begin{cases}" not in body:
        return f"\\begin{{dmath*}}{body}\\end{{dmath*}}"
    return f"\\begin{{equation*}}\\fitformula{{{body}}}\\end{{equation*}}"


def render_tex(record: dict) -> str:
    from .section import environment
    return environment().get_template("structured_section.tex.j2").render(
        r=record, props=record["properties"], **_helpers(record, False))


def render_md(record: dict) -> str:
    import re

    from .section import environment
    text = environment().get_template("structured_section.md.j2").render(
        r=record, props=record["properties"], **_helpers(record, True))
    return re.sub(r"\n{3,}", "\n\n", text)
