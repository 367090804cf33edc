"""Print a double-double :class:`~lossgen.rewrite.compensated.Program` as straight-line
Numba code: each value is a pair of locals ``<prefix><k>h, <prefix><k>l``.

Inputs and constants are not copied into locals (their pairs are ``x, 0.0``); a sum or
product of two such exact values is one error-free transformation (``two_sum``,
``two_prod``), and a product with -1 is a negation, so the code reads as the
mathematics does."""
from __future__ import annotations

import sympy as sp

from ..rewrite.compensated import Program, placeholders
from .printer import print_expr

_EXACT_LOW = "0.0"


def program_lines(prog: Program, prefix: str,
                  computed: dict[str, tuple[str, str]] | None = None) -> tuple[list[tuple[str, str]], str]:
    """(assignments, expression of the rounded result).

    ``computed`` maps the right-hand side of every pair assigned so far in the same
    point function to its names: a step whose right-hand side is already there (the
    same pure operation on the same values, e.g. ``dd_exp(pred, 0.0)`` in both the loss
    and the gradient) reuses that pair instead of computing it again, which changes no
    result.  Pass one dict to every program of a point function."""
    names: list[tuple[str, str]] = []
    lines: list[tuple[str, str]] = []
    computed = {} if computed is None else computed

    def assign(k: int, rhs: str, part: str = "") -> tuple[str, str]:
        if rhs in computed:
            return computed[rhs]
        h, lo = f"{prefix}{k}{part}h", f"{prefix}{k}{part}l"
        computed[rhs] = (h, lo)
        lines.append((f"{h}, {lo}", rhs))
        return h, lo

    for k, st in enumerate(prog.steps):
        a = st.args
        if st.op == "load":
            names.append((print_expr(st.data), _EXACT_LOW))
            continue
        if st.op == "const":
            names.append((repr(st.data[0]), repr(st.data[1])))
            continue
        if st.op in ("add", "mul"):
            (ah, al), (bh, bl) = names[a[0]], names[a[1]]
            if st.op == "mul" and "-1.0" in (ah, bh) and _EXACT_LOW in (al, bl):
                h, lo = (bh, bl) if ah == "-1.0" else (ah, al)
                names.append((f"(-{h})", _EXACT_LOW) if lo == _EXACT_LOW else assign(k, f"-{h}, -{lo}"))
            elif al == bl == _EXACT_LOW:
                names.append(assign(k, f"two_{'sum' if st.op == 'add' else 'prod'}({ah}, {bh})"))
            else:
                names.append(assign(k, f"dd_{st.op}({ah}, {al}, {bh}, {bl})"))
        elif st.op == "div":
            names.append(assign(k, f"dd_div({', '.join(names[a[0]] + names[a[1]])})"))
        elif st.op in ("sqrt", "exp", "log"):
            names.append(assign(k, f"dd_{st.op}({', '.join(names[a[0]])})"))
        elif st.op == "apply":
            g, partials = st.data
            his = [sp.Symbol(names[i][0], real=True) for i in a]  # printed back as the text it holds
            subs = dict(zip(placeholders(len(a)), his))
            value = print_expr(g.xreplace(subs))
            terms = [f"({print_expr(d.xreplace(subs))})*{names[i][1]}"
                     for d, i in zip(partials, a) if d != 0 and names[i][1] != _EXACT_LOW]
            if terms:
                names.append(assign(k, f"dd_apply({value}, 1.0, {' + '.join(terms)})"))
            else:
                names.append(assign(k, f"{value}, 0.0"))
        elif st.op == "select":
            # dd_select calls, innermost (last condition) first: a call adds no block to
            # the function (a conditional expression adds two, and Numba's compile time
            # grows with blocks times variables: focal's Hessian has 242 selects)
            pair = names[a[-1]]
            pieces = list(zip(st.data, a[:-1]))
            for j, (cond, i) in enumerate(reversed(pieces)):
                rhs = f"dd_select({print_expr(cond)}, {', '.join(names[i])}, {', '.join(pair)})"
                pair = assign(k, rhs, "" if j == len(pieces) - 1 else f"_{j}")
            names.append(pair)
        else:  # pragma: no cover - the builder emits only the ops above
            raise ValueError(st.op)
    h, lo = names[prog.result]
    return lines, f"({h} + {lo})"
