r"""Render a structured loss (reductions over an axis or the whole set) as a Numba module.

The mathematics lives in point functions, made by :func:`~lossgen.codegen.point.point_function`
from the chain rule of :mod:`lossgen.derive.reductions` (one definition compiled for the CPU
by ``numba.njit`` and for CUDA by ``numba.cuda.jit(device=True)``):

* ``point_body_<d>_<axis>``: the bodies :math:`e_{j,k}` of the reductions over one axis at
  level d, at one element of that axis;
* ``point_row_loss``: the row loss :math:`F(s, \tau, r)`; ``point_row_adjoint``: F and its
  partial derivatives in each reduction, each take of a differentiable input and each
  differentiable row value;
* ``point_chain_<d>_<axis>`` (nested reductions only): one element's term of the adjoint
  sums of the reductions at level d, from the reductions above it along that axis;
* ``point_element_grad_<axis>``: one element's gradient in each differentiable input with
  that axis, and its terms of the take and row-value adjoints;
* ``point_mean_weight`` (specs with ``mean_weight``): a row's share of the "mean" divisor.

The templates (``structured_module.py.j2``, ``structured_cuda.py.j2``) own the loops: per
row, one pass over each axis's elements per reduction level (logsumexp by the online max-shifted
sum, so logits of ±1e4 are finite), the row loss and adjoints, then one pass writing the
gradient; a set loss makes one parallel pass over the rows for its sums and one for the
gradient.  Stability rewrites (:mod:`lossgen.rewrite.rules`) and step selects are applied
to every expression before printing.
"""
from __future__ import annotations

import textwrap

import sympy as sp

from .._version import __version__
from ..derive.reductions import (
    RowProgram,
    axis_size,
    chain_sums,
    d,
    element_gradient,
    indicator,
)
from ..rewrite.rules import apply_rules
from ..rewrite.selects import step_selects
from ..spec.model import Spec
from .cpu import _ENV
from .point import PointFunction, point_function
from .printer import print_expr


def _merge_powers(expr: sp.Expr) -> sp.Expr:
    """x**p/x -> x**(p - 1) in products (d/dx of x**p as SymPy writes it is 0/0 at x = 0)."""
    def repeated(m):
        bases = [f.as_base_exp()[0] for f in m.args]
        return len(set(bases)) < len(bases) and any(not f.as_base_exp()[1].is_Integer for f in m.args)
    return expr.replace(lambda e: e.is_Mul and repeated(e), lambda e: sp.powsimp(e, combine="exp", deep=False))


def _stable(expr: sp.Expr) -> sp.Expr:
    return step_selects(apply_rules(_merge_powers(expr)))


def _pretty(expr: sp.Basic) -> str:
    return textwrap.fill(sp.sstr(expr), 88, subsequent_indent="        ", break_long_words=False,
                         break_on_hyphens=False)


def _adj(sym: sp.Symbol) -> sp.Symbol:
    return sp.Symbol(f"_a{sym.name[1:]}", real=True)


def _points(prog: RowProgram) -> tuple[list[PointFunction], dict]:
    """The point functions, and the argument names of each (for the templates)."""
    spec = prog.spec
    params = [p.name for p in spec.params]
    rows = list(prog.row_values)
    taus = [t.symbol.name for t in prog.takes]
    rs = [r.symbol.name for r in prog.reductions]
    adjs = [_adj(r.symbol).name for r in prog.reductions]
    sizes = [axis_size(a).name for a in prog.axes]
    cache = softmax_cache(prog)
    probs = [f"_p{cache[0].symbol.name[2:]}"] if cache else []
    weights = {cache[0].symbol: sp.Symbol(probs[0], real=True)} if cache else {}
    row_args = rows + taus + rs + params + sizes

    def elem_args(axis):
        inds = [indicator(r).name for r in prog.reductions if r.op == "max" and r.axis == axis]
        on = cache and cache[0].axis == axis
        return list(prog.elements_on(axis)) + row_args + adjs + inds + (probs if on else [])

    points: list[PointFunction] = []
    args: dict[str, list[str]] = {"row": row_args}
    for lvl in range(1, prog.depth + 1):
        below = [r.symbol.name for r in prog.reductions if r.level < lvl]
        for axis in prog.axes:
            if prog.level(lvl, axis):
                points.append(point_function(
                    f"point_body_{lvl}_{axis}", f"Bodies of the level-{lvl} reductions over '{axis}' at one element.",
                    tuple(list(prog.elements_on(axis)) + rows + taus + below + params + sizes),
                    [_stable(r.body) for r in prog.level(lvl, axis)]))
    points.append(point_function("point_row_loss", "The loss of one row, from its reductions and takes.",
                                 tuple(row_args), [_stable(prog.row_loss)]))
    if prog.mean_weight is not None:
        points.append(point_function("point_mean_weight", "A row's share of the divisor of reduction='mean'.",
                                     tuple(row_args), [_stable(prog.mean_weight)]))
    if not spec.differentiable:
        return points, args
    F = prog.row_loss
    partials = [d(F, r.symbol) for r in prog.reductions] + [d(F, t.symbol) for t in prog.grad_takes] + \
        [d(F, prog.symbol(s)) for s in prog.diff_row_values]
    points.append(point_function("point_row_adjoint", "Row loss, then dF/d each reduction, take and row value.",
                                 tuple(row_args), [_stable(F)] + [_stable(p) for p in partials]))
    adjoint = {r.symbol: _adj(r.symbol) for r in prog.reductions}
    for lvl in range(prog.depth - 1, 0, -1):
        for axis in chain_axes(prog, lvl):
            terms = [chain_sums(prog, r.symbol, adjoint, lvl, weights, axis) for r in prog.level(lvl)]
            points.append(point_function(f"point_chain_{lvl}_{axis}", f"One '{axis}' element's term of the "
                                         f"level-{lvl} adjoint sums.", tuple(elem_args(axis)),
                                         [_stable(t) for t in terms]))
    for axis in prog.axes:
        grads = [element_gradient(prog, x, adjoint, weights) for x in prog.diff_elements_on(axis)]
        grads += [chain_sums(prog, t.symbol, adjoint, 0, weights, axis) for t in prog.grad_takes]
        if not prog.is_set:
            grads += [chain_sums(prog, prog.symbol(s), adjoint, 0, weights, axis) for s in prog.diff_row_values]
        points.append(point_function(f"point_element_grad_{axis}", f"One '{axis}' element's gradient, and its "
                                     "terms of the take and row-value adjoints.", tuple(elem_args(axis)),
                                     [_stable(g) for g in grads]))
    return points, args


def chain_axes(prog: RowProgram, lvl: int) -> tuple[str, ...]:
    """The axes with reductions above level ``lvl``: the passes that add to its adjoint sums."""
    return tuple(a for a in prog.axes if any(r.axis == a and r.level > lvl for r in prog.reductions))


def softmax_cache(prog: RowProgram):
    """(the first logsumexp, the input whose gradient buffer caches its e^{e_k - shift}), or None.

    The kernel computes e^{e_k - max} once, in the logsumexp's pass, and keeps it in the
    row of that gradient buffer; the gradient pass reads it back as the softmax
    D_k = e^{e_k - r} = e^{e_k - max} / sum (one exp per element, not two)."""
    if prog.is_set or not prog.spec.differentiable:
        return None
    for r in prog.reductions:
        if r.op == "logsumexp" and prog.diff_elements_on(r.axis):
            return r, prog.diff_elements_on(r.axis)[0]
    return None


def _cache_context(prog: RowProgram) -> dict | None:
    c = softmax_cache(prog)
    return {"j": c[0].symbol.name[2:], "x": c[1], "axis": c[0].axis} if c else None


def _accumulators(prog: RowProgram) -> list[dict]:
    """How each reduction accumulates in a pass and is finished (template fragments)."""
    out = []
    for r in prog.reductions:
        j = r.symbol.name[2:]
        p = None
        if r.op == "norm":
            p = "2" if r.p == 2 else print_expr(r.p)
        out.append({"j": j, "op": r.op, "axis": r.axis, "level": r.level, "p": p, "sym": r.symbol.name})
    return out


def _calls(prog: RowProgram, points: list[PointFunction]) -> dict[str, str]:
    """Each point function's call in a kernel: ``outputs = point_x(locals)``."""
    j = {r.symbol: r.symbol.name[2:] for r in prog.reductions}
    lhs = {"point_row_loss": ["_l"], "point_mean_weight": ["_mw"],
           "point_row_adjoint": ["_l"] + [f"_ar{j[r.symbol]}" for r in prog.reductions]
           + [f"_a{t.symbol.name[1:]}" for t in prog.grad_takes] + [f"_ax_{x}" for x in prog.diff_row_values],
           }
    for axis in prog.axes:
        lhs[f"point_element_grad_{axis}"] = [f"_gk_{x}" for x in prog.diff_elements_on(axis)] \
            + [f"_p{t.symbol.name[1:]}" for t in prog.grad_takes] + [f"_px_{x}" for x in prog.diff_row_values]
        for lvl in range(1, prog.depth + 1):
            lhs[f"point_body_{lvl}_{axis}"] = [f"_b{j[r.symbol]}" for r in prog.level(lvl, axis)]
            lhs[f"point_chain_{lvl}_{axis}"] = [f"_d{j[r.symbol]}" for r in prog.level(lvl)]
    names = {i.name for i in prog.spec.inputs}
    out = {}
    for fn in points:
        args = ", ".join(f"_x_{a}" if a in names else a for a in fn.args)
        out[fn.name] = f"{', '.join(lhs[fn.name])} = {fn.name}({args})"
    return out


def build_context(prog: RowProgram, generator_sha256: str, source_label: str) -> dict:
    spec: Spec = prog.spec
    points, args = _points(prog)
    runtime_imports = sorted(set().union(*(p.runtime_calls for p in points)))
    checks = [(print_expr(p.constraint), p.constraint_text, p.name) for p in spec.params if p.constraint is not None]
    reductions = [(r.symbol.name, f"{r.op}_{r.axis}" + (f"[p={r.p}]" if r.p is not None else ""),
                   _pretty(r.body)) for r in prog.reductions]
    takes = [(t.symbol.name, f"{t.array}[{t.index}]") for t in prog.takes]
    return {
        "version": __version__,
        "generator_sha256": generator_sha256,
        "source": source_label,
        "spec": spec,
        "prog": prog,
        "loss_pretty": _pretty(spec.loss),
        "row_loss_pretty": _pretty(prog.row_loss),
        "doc_reductions": reductions,
        "doc_takes": takes,
        "inputs": tuple(i.name for i in spec.inputs),
        "params": tuple(p.name for p in spec.params),
        "first": prog.element_inputs[0] if prog.is_set else prog.axis_inputs[0],
        "axis_first": {a: prog.elements_on(a)[0] for a in prog.axes},
        "chain_axes": {lvl: chain_axes(prog, lvl) for lvl in range(1, prog.depth)},
        "grad_inputs": tuple(i.name for i in spec.differentiable_inputs),
        "points": points,
        "calls": _calls(prog, points),
        "cache": _cache_context(prog),
        "row_functions": [] if prog.is_set else ["row"] + (["row_mean_weight"] if prog.mean_weight is not None else []),
        "args": args,
        "acc": _accumulators(prog),
        "runtime_imports": runtime_imports,
        "checks": checks,
        "pyrepr": repr,
        "index_of": {t.symbol.name: t.index for t in prog.takes},
        "axis_of": prog.input_axis,
    }


def render_structured_module(prog: RowProgram, generator_sha256: str, source_label: str) -> str:
    """The text of the generated module (CPU kernels and their CUDA twins) for ``prog``."""
    ctx = build_context(prog, generator_sha256, source_label)
    return _ENV.get_template("structured_module.py.j2").render(**ctx)
