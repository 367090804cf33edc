r"""Gradients through reductions: the chain rule of a structured loss, symbolically.

A structured spec's loss is a *row loss* :math:`L = F(s, \tau, r)` of

* row values :math:`s` (inputs without an axis, one value per row: a target index, a
  label, a per-row weight),
* taken values :math:`\tau_m = x_{t_m}` (``take(x, t)``: the element of an axis input at
  a row's index), and
* reductions :math:`r_j = R_j(e_{j,1}, \dots, e_{j,K_a})` of a body :math:`e_{j,k}` over the
  :math:`K_a` elements of one named axis a (``class``, ``embed``, ``feature``, ``latent``,
  ...) or over the rows of the whole batch (``set``).  A spec may use several axes; each
  axis input has one, and a body over axis a reads only the inputs of axis a (and row
  values, takes, other reductions).  A body may hold other reductions (a *nested* one is
  one level higher), over the same axis or another.

:func:`row_program` replaces every reduction and every take by a symbol and returns the
pieces; the gradient of one element :math:`x_k` of an axis input is then

.. math::

    \frac{dL}{dx_k} = \sum_j \bar r_j \, D_{j,k} \, \frac{\partial e_{j,k}}{\partial x_k}
        + \sum_m \bar\tau_m \, [k = t_m],

with the reduction's element weight :math:`D_{j,k} = \partial R_j / \partial e_{j,k}`:
1 for ``sum``, :math:`1/K_a` for ``mean``, :math:`e^{e_{j,k} - r_j}` for ``logsumexp``,
:math:`|e_{j,k}|^{p-1}\operatorname{sign}(e_{j,k}) / r_j^{p-1}` for the p-norm and the
arg-max indicator for ``max``.  The adjoints :math:`\bar r_j = dL/dr_j` follow the levels
down: :math:`\bar r_j = \partial F/\partial r_j + \sum_{i \text{ above } j} \bar r_i
\sum_k D_{i,k}\, \partial e_{i,k}/\partial r_j`, and likewise
:math:`\bar\tau_m = \partial F/\partial\tau_m + \sum_i \bar r_i \sum_k D_{i,k}\,\partial
e_{i,k}/\partial \tau_m` and the adjoint of a differentiable row value.  Kernels compute
the inner sums in the passes over the elements (:mod:`lossgen.codegen.structured`).

Before a nested body is kept nested, a ``sum``/``mean`` body that is affine in its inner
reductions is split: :math:`\sum_k (a_k + b_k r) = \sum_k a_k + r \sum_k b_k`, so
softmax cross-entropy with label smoothing needs one reduce pass, not two.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import BuildError
from ..spec.model import Spec
from ..spec.structure import AxisReduction, mean_over, norm_over, sum_over, take
from .derivatives import almost_everywhere

SET_OPS = ("sum", "mean")


def axis_size(axis: str) -> sp.Symbol:
    """The number of elements along ``axis`` (K_a), or of rows for the set axis (n)."""
    return sp.Symbol(f"_K_{axis}", positive=True)


@dataclass(frozen=True)
class Reduction:
    """One reduction node: ``symbol = op(body over axis)`` (``p``: the norm's order)."""

    symbol: sp.Symbol
    op: str
    axis: str
    body: sp.Expr
    p: sp.Expr | None
    level: int

    def weight(self, e: sp.Expr) -> sp.Expr:
        """D = d op / d e_k at element value ``e`` (for max: the indicator symbol)."""
        r = self.symbol
        if self.op == "sum":
            return sp.S.One
        if self.op == "mean":
            return 1 / axis_size(self.axis)
        if self.op == "logsumexp":
            return sp.exp(e - r)
        if self.op == "max":
            return indicator(self)
        p = self.p
        return sp.Piecewise((sp.S.Zero, sp.Eq(r, 0)), (sp.sign(e) * sp.Abs(e) ** (p - 1) / r ** (p - 1), True))


@dataclass(frozen=True)
class Take:
    """``symbol = array[row, index]`` for an axis input ``array`` and an index row input."""

    symbol: sp.Symbol
    array: str
    index: str


@dataclass(frozen=True)
class RowProgram:
    """A structured loss taken apart for the chain rule (see the module docstring)."""

    spec: Spec
    axes: tuple[str, ...]             # ("class",), ("feature", "latent"), ... or ("set",)
    input_axis: dict[str, str]        # each input with an axis, and each take index: its axis
    axis_inputs: tuple[str, ...]      # inputs with an axis: (n, K_a) arrays
    row_inputs: tuple[str, ...]       # one value per row: (n,) arrays
    index_inputs: tuple[str, ...]     # row inputs used as take() indices (integer arrays)
    reductions: tuple[Reduction, ...]
    takes: tuple[Take, ...]
    row_loss: sp.Expr
    mean_weight: sp.Expr | None

    @property
    def is_set(self) -> bool:
        return self.axes == ("set",)

    @property
    def axis(self) -> str:
        """The axis names, joined by ', ' (for text)."""
        return ", ".join(self.axes)

    @property
    def depth(self) -> int:
        return max((r.level for r in self.reductions), default=0)

    def level(self, d: int, axis: str | None = None) -> tuple[Reduction, ...]:
        """The reductions at level d (over ``axis`` only, if given)."""
        return tuple(r for r in self.reductions if r.level == d and axis in (None, r.axis))

    @property
    def element_inputs(self) -> tuple[str, ...]:
        """The inputs a pass walks element by element: along an axis, or every input over the set."""
        return self.row_inputs if self.is_set else self.axis_inputs

    def elements_on(self, axis: str) -> tuple[str, ...]:
        """The inputs a pass over ``axis`` walks element by element."""
        return self.row_inputs if self.is_set else tuple(x for x in self.axis_inputs if self.input_axis[x] == axis)

    def diff_elements_on(self, axis: str) -> tuple[str, ...]:
        """The differentiable inputs along ``axis`` (their gradients are written in its pass)."""
        return tuple(x for x in self.diff_element_inputs if x in self.elements_on(axis))

    @property
    def row_values(self) -> tuple[str, ...]:
        """The inputs read once per row (none for a set loss)."""
        return () if self.is_set else self.row_inputs

    @property
    def diff_element_inputs(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.spec.differentiable_inputs if i.name in self.element_inputs)

    @property
    def diff_row_values(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.spec.differentiable_inputs if i.name in self.row_values)

    @property
    def grad_takes(self) -> tuple[Take, ...]:
        """Takes of a differentiable input: their adjoints are added at the taken index."""
        return tuple(t for t in self.takes if self.spec.input(t.array).differentiable)

    def symbol(self, name: str) -> sp.Symbol:
        return self.spec.input(name).symbol


def indicator(red: Reduction) -> sp.Symbol:
    """The arg-max indicator of a ``max`` reduction at the current element (0 or 1)."""
    return sp.Symbol(f"_ind{red.symbol.name[2:]}", real=True)


class _Extractor:
    """Replaces reductions and takes by symbols, innermost first, sharing equal nodes."""

    def __init__(self, prog_inputs: dict[sp.Symbol, tuple], spec: Spec):
        self.spec = spec
        self.axis_of = {s: axes[0] for s, (axes, _) in prog_inputs.items() if axes}
        self.axis_syms = set(self.axis_of)
        self.row_syms = {s for s, (axes, _) in prog_inputs.items() if not axes}
        self.reductions: dict[sp.Basic, Reduction] = {}
        self.takes: dict[sp.Basic, Take] = {}
        self.axes: set[str] = set()

    def level_of(self, expr: sp.Expr) -> int:
        by_sym = {r.symbol: r.level for r in self.reductions.values()}
        return max((by_sym.get(s, 0) for s in expr.free_symbols), default=0)

    def visit(self, expr: sp.Basic) -> sp.Basic:
        if isinstance(expr, take):
            return self._take(expr)
        if isinstance(expr, AxisReduction):
            return self._reduction(expr)
        if not expr.args:
            return expr
        return expr.func(*[self.visit(a) for a in expr.args])

    def _take(self, node: take) -> sp.Symbol:
        arr, idx = node.args
        if arr not in self.axis_syms or idx not in self.row_syms:
            raise BuildError(f"{self.spec.name}: take(x, index) needs an input with an axis and an index input "
                             f"without one, got take({arr}, {idx})")
        if node not in self.takes:
            self.takes[node] = Take(sp.Symbol(f"_tau{len(self.takes)}", real=True), arr.name, idx.name)
        return self.takes[node].symbol

    def _reduction(self, node: AxisReduction) -> sp.Expr:
        axis = node.args[1].axis_name
        self.axes.add(axis)
        body = self.visit(node.args[0])
        other = sorted((str(s), self.axis_of[s]) for s in body.free_symbols & self.axis_syms if self.axis_of[s] != axis)
        if other and axis != "set":
            raise BuildError(f"{self.spec.name}: a reduction over '{axis}' reads "
                             + ", ".join(f"'{x}' (axis '{a}')" for x, a in other) + "; reduce it over its own axis")
        p = node.args[2] if isinstance(node, norm_over) and len(node.args) > 2 else (
            sp.Integer(2) if isinstance(node, norm_over) else None)
        if isinstance(node, (sum_over, mean_over)):
            split = self._split_affine(body, node.op, node.args[1])
            if split is not None:
                return split
        key = (node.op, axis, body, p)
        if key not in self.reductions:
            sym = sp.Symbol(f"_r{len(self.reductions)}", real=True)
            self.reductions[key] = Reduction(sym, node.op, axis, body, p, self.level_of(body) + 1)
        return self.reductions[key].symbol

    def _split_affine(self, body: sp.Expr, op: str, axis: sp.Symbol) -> sp.Expr | None:
        """sum_k(a_k + sum_i b_ik r_i) = sum_k a_k + sum_i r_i sum_k b_ik, if affine in the r_i."""
        inner = [r.symbol for r in self.reductions.values() if r.symbol in body.free_symbols]
        if not inner:
            return None
        coeffs = [sp.diff(body, r) for r in inner]
        if any(c.free_symbols & set(inner) for c in coeffs):
            return None
        rest = sp.expand(body - sum(r * c for r, c in zip(inner, coeffs)))
        if rest.free_symbols & set(inner):
            return None
        cls = sum_over if op == "sum" else mean_over
        out = self._reduction(cls(rest, axis)) if rest != 0 else sp.S.Zero
        for r, c in zip(inner, coeffs):
            out += r * self._reduction(cls(c, axis))
        return out


def row_program(spec: Spec) -> RowProgram:
    """Take a structured spec apart (see the module docstring); refuse what kernels cannot run."""
    name = spec.name
    many = [i.name for i in spec.inputs if len(i.axes) > 1]
    if many:
        raise BuildError(f"{name}: input '{many[0]}' has several axes; a structured loss input has at most one")
    declared = tuple(dict.fromkeys(i.axes[0] for i in spec.inputs if i.axes))
    ins = {i.symbol: (i.axes, i) for i in spec.inputs}
    ex = _Extractor(ins, spec)
    row_loss = ex.visit(spec.loss)
    mean_weight = spec.extra.get("mean_weight")
    if mean_weight is not None:
        mean_weight = ex.visit(mean_weight)
    if not ex.axes and not declared:
        raise BuildError(f"{name}: not a structured loss")
    reductions = tuple(sorted(ex.reductions.values(), key=lambda r: int(r.symbol.name[2:])))
    if "set" in ex.axes:
        if declared or len(ex.axes) > 1:
            raise BuildError(f"{name}: a set reduction over inputs with an axis ({', '.join(sorted(declared))}) "
                             "is not supported")
        bad = [r.op for r in reductions if r.op not in SET_OPS or r.level > 1]
        if bad or ex.takes:
            raise BuildError(f"{name}: over the whole set only un-nested sum_over/mean_over are supported")
        if row_loss.free_symbols & set(ins):
            raise BuildError(f"{name}: a set loss must depend on its inputs through set reductions only")
        axes = ("set",)
    else:
        axes = declared           # the parser refuses a reduction over an axis no input declares
    outside = (row_loss.free_symbols | (mean_weight.free_symbols if mean_weight is not None else set())) & ex.axis_syms
    if outside:
        raise BuildError(f"{name}: input(s) {', '.join(sorted(map(str, outside)))} have an axis and "
                         "appear outside a reduction or take()")
    index_inputs = tuple(dict.fromkeys(t.index for t in ex.takes.values()))
    input_axis = {i.name: i.axes[0] for i in spec.inputs if i.axes}
    for idx in index_inputs:
        if spec.input(idx).differentiable:
            raise BuildError(f"{name}: the index input '{idx}' of take() cannot be differentiable")
        along = {input_axis[t.array] for t in ex.takes.values() if t.index == idx}
        if len(along) > 1:
            raise BuildError(f"{name}: the index input '{idx}' indexes arrays of several axes ({', '.join(sorted(along))})")
        input_axis[idx] = along.pop()
    return RowProgram(
        spec=spec, axes=axes, input_axis=input_axis,
        axis_inputs=tuple(i.name for i in spec.inputs if i.axes),
        row_inputs=tuple(i.name for i in spec.inputs if not i.axes),
        index_inputs=index_inputs, reductions=reductions, takes=tuple(ex.takes.values()),
        row_loss=row_loss, mean_weight=mean_weight)


def d(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """A kernel's derivative: where it exists (Dirac mass at kinks dropped)."""
    return almost_everywhere(sp.diff(expr, var))


def element_gradient(prog: RowProgram, x: str, adjoint: dict[sp.Symbol, sp.Expr],
                     weights: dict[sp.Symbol, sp.Expr] | None = None) -> sp.Expr:
    r"""The reduction part of dL/dx_k: :math:`\sum_j \bar r_j D_{j,k} \partial e_{j,k}/\partial x_k`
    (``adjoint`` maps each reduction symbol to the symbol holding its adjoint; ``weights``
    may name a symbol that holds a reduction's D_{j,k}, e.g. a softmax cached by the kernel)."""
    return chain_sums(prog, prog.symbol(x), adjoint, 0, weights)


def chain_sums(prog: RowProgram, var: sp.Symbol, adjoint: dict[sp.Symbol, sp.Expr],
               above: int = 0, weights: dict[sp.Symbol, sp.Expr] | None = None, axis: str | None = None) -> sp.Expr:
    r"""Per-element term of :math:`\sum_i \bar r_i \sum_k D_{i,k}\,\partial e_{i,k}/\partial v`
    over the reductions i above level ``above`` (v: an element, an inner reduction, a take or a
    row value); with ``axis``, over the reductions along that axis only (one pass's terms)."""
    weights = weights or {}
    total = sp.S.Zero
    for red in prog.reductions:
        if red.level <= above or axis not in (None, red.axis):
            continue
        de = d(red.body, var)
        if de != 0:
            total += adjoint[red.symbol] * weights.get(red.symbol, red.weight(red.body)) * de
    return total


def describe(spec: Spec) -> str:
    """A structured loss taken apart, as text (``lossgen show``): the row loss, each reduction
    and take, and the per-element gradient of each differentiable input with the axis."""
    prog = row_program(spec)
    adjoint = {r.symbol: sp.Symbol(f"dL/d{r.symbol.name}") for r in prog.reductions}
    lines = [f"{spec.name}: {spec.title}", f"  loss = {sp.sstr(spec.loss)}",
             f"  per {'set' if prog.is_set else 'row'}: F = {sp.sstr(prog.row_loss)}"]
    for r in prog.reductions:
        p = f", p={r.p}" if r.p is not None else ""
        lines.append(f"    {r.symbol} = {r.op}_{r.axis}({sp.sstr(r.body)}{p})   [level {r.level}]")
    for t in prog.takes:
        lines.append(f"    {t.symbol} = {t.array}[{t.index}]")
    if spec.differentiable:
        for r in prog.reductions:
            lines.append(f"  dL/d{r.symbol} = dF/d{r.symbol} = {sp.sstr(d(prog.row_loss, r.symbol))}"
                         + (" + (terms from the reductions above it)" if r.level < prog.depth else ""))
        for x in prog.diff_element_inputs:
            g = element_gradient(prog, x, adjoint)
            takes = [t for t in prog.grad_takes if t.array == x]
            extra = "".join(f" + [k == {t.index}]*dL/d{t.symbol}" for t in takes)
            lines.append(f"  dL/d{x}_k = {sp.sstr(g)}{extra}")
    return "\n".join(lines)
