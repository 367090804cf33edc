"""Point functions: the scalar mathematics of one element, as straight-line code.

A point function takes one element of each input plus the parameters and returns
one or more scalars (loss, gradients, Hessian entries).  Common subexpressions are
eliminated across everything one function returns, so a fused ``loss_grad`` shares
its work.  The point functions are the only place a loss's mathematics appears in a
generated module; the array kernels around them are the same for every loss.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..derive.derivatives import almost_everywhere
from ..rewrite.compensated import Compensated, marked_program
from ..rewrite.error_bound import split_exp
from .compensated import program_lines
from .printer import print_expr


@dataclass(frozen=True)
class PointFunction:
    name: str
    doc: str
    args: tuple[str, ...]
    assignments: tuple[tuple[str, str], ...]
    returns: tuple[str, ...]
    runtime_calls: frozenset[str]
    guarded: bool = False   # has guarded compensated sums (a plain twin exists)
    float32: bool = False   # a guard is wider for float32 results: takes _float32

    @property
    def params(self) -> tuple[str, ...]:
        """The ``def`` line's parameters: ``args``, and ``_float32=False`` where a guard
        is wider for float32 results (the float32 kernels pass True)."""
        return self.args + (("_float32=False",) if self.float32 else ())


def point_function(name: str, doc: str, args: tuple[str, ...], exprs: list[sp.Expr],
                   helpers: dict[str, PointFunction] | None = None, variant: str = "exact",
                   invariants: tuple[str, ...] = ()) -> PointFunction:
    """Straight-line code computing ``exprs`` from ``args``, with temporaries for
    repeated subexpressions.

    A compensated form is computed first, by its own double-double code, and enters the
    rest as one temporary (``_c<j>``); elimination of common subexpressions does not
    look inside it, since rounding its parts to doubles would defeat it, but identical
    double-double steps of several compensated forms are computed once.

    A guarded compensated sum (``Compensated(e, ratio)``) is computed in plain doubles,
    term by term; where the terms cancel by more than ``ratio`` a helper function with
    the double-double code is called instead (a conditional expression, so the helper
    runs only then).  Helpers are collected in ``helpers`` (one per distinct program,
    shared by the point functions of a module) for the module to define.

    Two twins serve the array kernels, which run in two passes where there are guarded
    sums: ``variant="plain"``, the first pass over every element, takes every guarded
    sum's plain sum and returns one more value, ``_fix``, true where a guard failed;
    ``variant="fix"``, the second pass over those elements, computes what the exact
    function does with selects instead of a conditional call (the helper runs for every
    element it is given), so that a loop over it has no branch and vectorizes.

    A guarded sum with a float32 guard (``Compensated(e, ratio, ratio32)``) tests
    ``select(_float32, ratio32, ratio)``: the function then takes ``_float32`` (False
    by default), which the kernels set where they store float32.

    ``invariants`` names the arguments the kernels' loops do not change (the
    parameters): a Piecewise condition on those is printed as a branch that LLVM moves
    out of the loop (:func:`~lossgen.codegen.printer.print_expr`)."""
    helpers = {} if helpers is None else helpers
    oks: list[str] = []
    exprs = [almost_everywhere(e) for e in exprs]
    dd_lines: list[tuple[str, str]] = []
    marks: dict = {}
    computed: dict = {}     # double-double steps shared between the compensated forms
    for e in exprs:
        for node in sp.preorder_traversal(e):
            if isinstance(node, Compensated) and node not in marks:
                j = len(marks)
                if node.guard is None:
                    lines, result = program_lines(marked_program(node), f"_c{j}_", computed)
                    dd_lines += lines + [(f"_c{j}", result)]
                elif variant == "plain":
                    dd_lines += _plain_guarded_lines(node, f"_c{j}")
                    oks.append(f"_c{j}_ok")
                else:
                    dd_lines += _guarded_lines(node, f"_c{j}", args, helpers, select=variant == "fix")
                marks[node] = sp.Symbol(f"_c{j}", real=True)
    exprs = [e.xreplace(marks) for e in exprs]
    taken = set(args)
    temps = (sp.Symbol(f"t{k}", real=True) for k in range(10**6))
    temps = (t for t in temps if t.name not in taken)
    # Each output is eliminated on its own: a fused point function must compute every
    # output with exactly the operations its single-output twin uses (grad from
    # grad_hess equals grad bit for bit); a subexpression shared across outputs, such as
    # 1/v in both d/dpred = r/v and d2/dpred2 = 1/v, would turn r/v into r*(1/v).
    # Identical work left in two outputs' code is merged by LLVM (value numbering).
    body: list[tuple[str, str]] = []
    returns_list: list[str] = []
    for e in exprs:
        replacements, reduced = sp.cse([e], symbols=temps, optimizations=None, order="canonical")
        replacements, reduced = _inline_reciprocals(replacements, reduced)
        body += [(str(sym), print_expr(val, invariants)) for sym, val in replacements]
        returns_list.append(print_expr(reduced[0], invariants))
    assignments = tuple(dd_lines) + tuple(body)
    returns = tuple(returns_list)
    guarded = any(isinstance(n, Compensated) and n.guard is not None for n in marks)
    float32 = any(isinstance(n, Compensated) and n.guard32 is not None for n in marks)
    if variant == "plain":
        # & rather than `and`: no branch in the loop
        assignments += (("_fix", "not (" + " & ".join(oks) + ")" if oks else "False"),)
        returns += ("_fix",)
    return PointFunction(name, doc, args, assignments, returns, _runtime_calls(assignments, returns), guarded,
                         float32)


def _inline_reciprocals(replacements, reduced):
    """Put the temporaries that are a bare reciprocal ``1/x`` back where they are used.

    Elimination turns ``a/x + b/x`` into ``t = 1/x; a*t + b*t``: two roundings instead of
    one, and ``1/x`` overflows at a subnormal ``x`` where ``a/x`` need not (tweedie's
    ``(pred - target)/target`` at pred = target = 2e-311 was 0*inf = NaN).  Inlined, the
    printer writes each use as a division."""
    subs: dict = {}
    kept = []
    for sym, val in replacements:
        val = val.xreplace(subs)
        if val.is_Pow and val.exp == -1 and not val.base.is_Number:
            subs[sym] = val
        else:
            kept.append((sym, val))
    if not subs:
        return replacements, reduced
    # the kept temporaries renamed in order, so that their numbers have no gaps
    names = [sym for sym, _ in replacements]
    rename = {sym: names[k] for k, (sym, _) in enumerate(kept)}
    return ([(rename[sym], val.xreplace(rename)) for sym, val in kept],
            [r.xreplace(subs).xreplace(rename) for r in reduced])


def _runtime_calls(assignments, returns) -> frozenset[str]:
    """The names of lossgen.runtime.scalar the code calls (the module imports them)."""
    from ..runtime import scalar
    text = " ".join(v for _, v in assignments) + " " + " ".join(returns)
    called = set(re.findall(r"(?<![\w.])([A-Za-z]\w*)\(", text))
    return frozenset(n for n in dir(scalar) if not n.startswith("_") and n in called
                     and n not in ("math", "numba"))


def _guard_terms(node: Compensated, name: str) -> list[tuple[str, str]]:
    """The plain terms of a guarded sum, their sum ``<name>_sum`` and the sum of their
    magnitudes ``<name>_size``.  A split sum (:func:`~lossgen.rewrite.error_bound.split_exp`)
    computes its e^x as ``exp_hilo``'s hi, and ``<name>_lo`` its low part."""
    args = node.args[0].args
    k = split_exp(args)
    terms = [(f"{name}_t{i}", print_expr(t)) for i, t in enumerate(args)]
    if k is not None:
        terms[k] = (f"{name}_t{k}, {name}_lo", f"exp_hilo({print_expr(args[k].args[0])})")
    names = [f"{name}_t{i}" for i in range(len(args))]
    return terms + [(f"{name}_sum", " + ".join(names)),
                    (f"{name}_size", " + ".join(f"abs({t})" for t in names))]


def _plain_sum(node: Compensated, name: str) -> str:
    """The plain value of a guarded sum: its sum, plus e^x's low part where it is split."""
    return f"({name}_sum + {name}_lo)" if split_exp(node.args[0].args) is not None else f"{name}_sum"


def _guard_test(node: Compensated, name: str) -> str:
    """True where the plain sum stands: its terms cancel by at most the guard's ratio
    and none overflowed (an inf term makes the size inf: inf + inf is no sum's value);
    the ratio is the float32 one where the result is float32 and there is one."""
    ratio = repr(node.guard) if node.guard32 is None else f"select(_float32, {node.guard32!r}, {node.guard!r})"
    return f"({name}_size <= {ratio}*abs({name}_sum)) & ({name}_size < math.inf)"


def _plain_guarded_lines(node: Compensated, name: str) -> list[tuple[str, str]]:
    """``name = plain sum`` and ``<name>_ok``, whether it stands."""
    return _guard_terms(node, name) + [(name, _plain_sum(node, name)), (f"{name}_ok", _guard_test(node, name))]


def _guarded_lines(node: Compensated, name: str, args: tuple[str, ...],
                   helpers: dict[str, PointFunction], select: bool = False) -> list[tuple[str, str]]:
    """``name = plain sum if its terms do not cancel and none overflows, else the
    double-double helper`` (with ``select``: both computed, one selected)."""
    lines, result = program_lines(marked_program(node), "_d")
    key = repr((lines, result))
    if key not in helpers:
        helpers[key] = PointFunction(
            f"compensated_{len(helpers)}", "Double-double evaluation, called where the plain sum cancels.",
            args, tuple(lines), (result,), _runtime_calls(lines, (result,)))
    call = f"{helpers[key].name}({', '.join(args)})"
    plain = _plain_sum(node, name)
    if select:
        return _guard_terms(node, name) + [(name, f"select({_guard_test(node, name)}, {plain}, {call})")]
    return _guard_terms(node, name) + [(name, f"{plain} if {_guard_test(node, name)} else {call}")]
