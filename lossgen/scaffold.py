"""``lossgen new``: scaffold a spec from one expression.

The inputs are ``pred`` (prediction, differentiable) and ``target``; every other free
name in the expression becomes a parameter (default 1.0 unless given).  The expression
is written into the spec verbatim, and the spec is parsed back before anything is
written, so a scaffold that would not load is never written.
"""
from __future__ import annotations

import ast
import re

import sympy as sp

from .errors import SpecError
from .spec.expression import CONSTANTS, FUNCTIONS, ExpressionError, parse_expression
from .spec.loader import parse_spec_text

INPUT_NAMES = ("pred", "target")


def _check_expression(expr: str, names) -> None:
    """Parse ``expr`` as the spec will; a problem is reported at its column in ``expr``."""
    try:
        parse_expression(expr, {n: sp.Symbol(n, real=True) for n in names})
    except ExpressionError as exc:
        raise SpecError(exc.message, file="<expression>", key="--expr", line=1, column=exc.offset + 1,
                        source_line=expr) from None


def free_names(expr: str) -> list[str]:
    """Names in ``expr`` that are neither functions, constants nor the inputs, in order."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        _check_expression(expr, ())  # raises, with the column
        raise
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called:
            if node.id not in FUNCTIONS and node.id not in CONSTANTS and node.id not in INPUT_NAMES \
                    and node.id not in names:
                names.append(node.id)
    return sorted(names)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scaffold(name: str, expr: str, params: dict[str, float], category: str = "regression") -> str:
    """The text of a new spec; raises SpecError if it would not load."""
    if not re.match(r"^[a-z][a-z0-9_]*$", name):
        raise SpecError(f"'{name}' is not a valid loss name (lowercase letters, digits, _)", key="NAME")
    names = free_names(expr)
    _check_expression(expr, (*INPUT_NAMES, *names))
    unknown = set(params) - set(names)
    if unknown:
        raise SpecError(f"--param {', '.join(sorted(unknown))}: not a name in the expression", key="--param")
    lines = [
        f"name = {_toml_str(name)}",
        f"title = {_toml_str(name.replace('_', ' ').capitalize())}",
        f"summary = {_toml_str('User-defined loss ' + expr)}",
        f"category = {_toml_str(category)}",
        "references = []",
        f"loss = {_toml_str(expr)}",
        "",
        "[[inputs]]",
        'name = "pred"',
        'role = "prediction"',
        'domain = "real"',
        "differentiable = true",
        "",
        "[[inputs]]",
        'name = "target"',
        'role = "target"',
        'domain = "real"',
    ]
    for p in free_names(expr):
        lines += ["", "[[params]]", f"name = {_toml_str(p)}", f"default = {float(params.get(p, 1.0))!r}",
                  f"description = {_toml_str('parameter ' + p)}"]
    text = "\n".join(lines) + "\n"
    parse_spec_text(text, f"<new spec {name}>")
    return text
