r"""Ground truth for structured losses: the spec written out for a fixed small size.

For K_a elements along each axis a (or n rows of a set loss), every reduction of the spec
is expanded into its explicit scalar formula over its axis — ``sum_over(e, a)`` into
:math:`e_0 + \dots + e_{K_a-1}`, ``logsumexp_over`` into :math:`\log\sum_k e^{e_k}`, ``norm_over`` into
:math:`(\sum_k |e_k|^p)^{1/p}`, ``max_over`` into ``Max`` — and ``take(x, t)`` into the
element :math:`x_t` (the index is a known integer).  The result is an ordinary SymPy
expression in one symbol per element; its value and ``sympy.diff`` in each element are
evaluated with mpmath at adaptive high precision (:func:`lossgen.verify.truth.mp_function`).
Nothing here uses the chain rule of :mod:`lossgen.derive.reductions` or any kernel:
that is what the truth checks.
"""
from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp

from ..spec.model import Spec
from ..spec.structure import AxisReduction, take
from .truth import mp_function


def _axis(spec: Spec, name: str, is_set: bool) -> str:
    return "set" if is_set else spec.input(name).axes[0]


def element_symbols(spec: Spec, size: int | dict[str, int], is_set: bool) -> dict[str, list[sp.Symbol]]:
    """One real symbol per element of each input that is expanded (axis inputs; all inputs of a
    set loss); ``size``: the elements per axis, one number for every axis or a dict by axis."""
    def k(name):
        return size if isinstance(size, int) else size[_axis(spec, name, is_set)]
    return {i.name: [sp.Symbol(f"{i.name}__{j}", real=True) for j in range(k(i.name))]
            for i in spec.inputs if i.axes or is_set}


def expand(spec: Spec, expr: sp.Expr, size: int | dict[str, int], elems: dict[str, list[sp.Symbol]],
           indices: dict[str, int]) -> sp.Expr:
    """``expr`` with every reduction written out over its axis's elements (``size``: one number
    for every axis, or a dict by axis) and every take resolved."""
    is_set = any(not spec.input(n).axes for n in elems)
    axis_of = {spec.input(n).symbol: _axis(spec, n, is_set) for n in elems}
    by_symbol = {spec.input(n).symbol: v for n, v in elems.items()}
    index_syms = {spec.input(n).symbol: n for n in indices}

    def walk(e, at):
        if isinstance(e, take):
            arr, idx = e.args
            t = indices[index_syms[idx]]
            return by_symbol[arr][t] if 0 <= t < len(by_symbol[arr]) else sp.S.NaN
        if isinstance(e, AxisReduction):
            axis = e.args[1].axis_name
            n = size if isinstance(size, int) else size[axis]
            terms = [walk(e.args[0], {**at, axis: j}) for j in range(n)]
            op = e.op
            if op == "sum":
                return sp.Add(*terms)
            if op == "mean":
                return sp.Add(*terms) / n
            if op == "max":
                return sp.Max(*terms)
            if op == "logsumexp":
                return sp.log(sp.Add(*[sp.exp(t) for t in terms]))
            p = e.args[2] if len(e.args) > 2 else sp.Integer(2)
            return sp.Add(*[sp.Abs(t) ** p for t in terms]) ** (1 / p)
        if e in by_symbol:
            if axis_of[e] not in at:
                raise ValueError(f"input {e} with the axis '{axis_of[e]}' outside a reduction over it")
            return by_symbol[e][at[axis_of[e]]]
        if e in index_syms:
            return sp.Integer(indices[index_syms[e]])
        if not e.args:
            return e
        return e.func(*[walk(a, at) for a in e.args])

    return walk(expr, {})


def _mp(v) -> str:
    return repr(float(v))


def row_truth(spec: Spec, arrays: dict[str, np.ndarray], row: int | None, params: dict[str, float],
              wrt: tuple[str, ...], grads: bool = True):
    """(loss, {input: gradient array}, mean weight) of one row (``row``) or of the whole
    set (``row=None``) at float values ``arrays``, in mpmath; gradients of the loss in
    each input of ``wrt`` (the row's K_a elements, or every row of a set loss)."""
    is_set = row is None
    if is_set:
        size = next(iter(arrays.values())).size
    else:
        size = {}
        for i in spec.inputs:
            if i.axes and i.name in arrays:
                size.setdefault(i.axes[0], np.shape(arrays[i.name])[-1])
    elems = element_symbols(spec, size, is_set)
    index_names = [n for n in arrays if np.asarray(arrays[n]).dtype.kind in "iu"]
    indices = {n: int(arrays[n][row]) for n in index_names} if not is_set else {}
    loss = expand(spec, spec.loss, size, elems, indices)
    psubs = {p.symbol: sp.Float(_mp(params.get(p.name, p.default)), 60) for p in spec.params}
    loss = loss.xreplace(psubs)
    symbols, values = [], []
    for i in spec.inputs:
        if i.name in index_names:
            continue
        a = np.asarray(arrays[i.name], dtype=np.float64)
        if i.name in elems:
            vals = a.reshape(-1) if is_set else (a[row] if a.ndim == 2 and a.shape[0] > 1 else a.reshape(-1))
            symbols += elems[i.name]
            values += [_mp(v) for v in vals]
        else:
            symbols.append(i.symbol)
            values.append(_mp(a[row]))
    value = mp_function(loss, tuple(symbols))(*values)
    out = {}
    if grads:
        for name in wrt:
            syms = elems.get(name, [spec.input(name).symbol])
            g = [mp_function(sp.diff(loss, s), tuple(symbols))(*values) for s in syms]
            out[name] = g
    mw = None
    if "mean_weight" in spec.extra:
        mwe = expand(spec, spec.extra["mean_weight"], size, elems, indices).xreplace(psubs)
        mw = mp_function(mwe, tuple(symbols))(*values)
    return value, out, mw


def to_float(x) -> float:
    return float(mpmath.mpf(x))
