"""Safe expression parser: spec text -> SymPy, by walking Python's ``ast``.

Spec text is never given to ``eval``, ``exec``, ``sympify`` or ``parse_expr``.  The
text is parsed with :func:`ast.parse` in ``eval`` mode and every node is checked
against a whitelist: numbers, names the spec declares, arithmetic, comparisons,
boolean combinations, ``a if c else b``, tuples inside ``Piecewise`` and calls of
whitelisted functions by plain name.  Anything else (attribute access, subscripts,
lambdas, comprehensions, keyword tricks, strings outside axis names, ...) is refused
with the column where it starts.

Work is bounded: the text length, the number of AST nodes, the nesting depth and the
size of exact integer powers are capped, so no expression can hang the tool.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass

import sympy as sp

from ..primitives import PRIMITIVES
from .structure import REDUCTIONS, Axis, detach, take

MAX_CHARS = 4000
MAX_NODES = 800
MAX_DEPTH = 60
MAX_EXACT_EXPONENT = 256
#: Numbers a kernel can hold: finite and within float64's range.
_FLOAT_MAX = sp.Integer(int(sys.float_info.max))
_NON_FINITE = (sp.oo, -sp.oo, sp.zoo, sp.nan)


def _not_a_float64(value) -> bool:
    """True for a SymPy number that is infinite, nan or beyond float64's range."""
    return value in _NON_FINITE or (value.is_Number and abs(value) > _FLOAT_MAX)


class ExpressionError(ValueError):
    """An expression was refused; ``offset`` is the 0-based column in its text."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.message = message
        self.offset = offset


def _clip(lo, x, hi):
    return sp.Min(sp.Max(x, lo), hi)


#: SymPy functions a spec may call, by the name it uses.
FUNCTIONS: dict[str, object] = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "Abs": sp.Abs, "abs": sp.Abs,
    "Max": sp.Max, "max": sp.Max, "Min": sp.Min, "min": sp.Min, "sign": sp.sign,
    "Heaviside": sp.Heaviside, "Piecewise": sp.Piecewise,
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "atan": sp.atan, "sinh": sp.sinh,
    "cosh": sp.cosh, "tanh": sp.tanh, "asinh": sp.asinh, "erf": sp.erf, "erfc": sp.erfc,
    "Eq": sp.Eq, "Ne": sp.Ne, "And": sp.And, "Or": sp.Or, "Not": sp.Not,
    "relu": lambda x: sp.Max(x, 0),
    "clip": lambda x, lo, hi: _clip(lo, x, hi),
    "take": take,
    "detach": detach,
    **PRIMITIVES,
    **REDUCTIONS,
}

CONSTANTS = {"pi": sp.pi, "E": sp.E, "oo": sp.oo, "True": sp.true, "False": sp.false}

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: None,  # handled with a size check
    ast.BitAnd: lambda a, b: sp.And(a, b),
    ast.BitOr: lambda a, b: sp.Or(a, b),
}
_COMPARE = {
    ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Eq: sp.Eq, ast.NotEq: sp.Ne,
}


@dataclass
class _Walker:
    names: dict[str, sp.Basic]
    axes: frozenset[str]
    nodes: int = 0
    #: name -> Spec of a catalog loss a spec may call (composition), or None
    losses: object = None

    def visit(self, node: ast.AST, depth: int = 0) -> sp.Basic:
        self.nodes += 1
        col = getattr(node, "col_offset", 0)
        if self.nodes > MAX_NODES:
            raise ExpressionError(f"expression too large (more than {MAX_NODES} syntax nodes)", col)
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested too deeply (more than {MAX_DEPTH} levels)", col)
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed in a loss expression", col)
        return method(node, depth + 1)

    def visit_Expression(self, node, depth):
        return self.visit(node.body, depth)

    def visit_Constant(self, node, depth):
        v = node.value
        if isinstance(v, bool):
            return sp.true if v else sp.false
        if isinstance(v, (int, float)) and not (abs(v) <= sys.float_info.max):
            raise ExpressionError(f"number {str(v)[:20]}{'...' if len(str(v)) > 20 else ''} is not a finite "
                                  "float64", node.col_offset)
        if isinstance(v, int):
            return sp.Integer(v)
        if isinstance(v, float):
            # exact decimal: 0.25 -> 1/4, 4.685 -> 937/200; keeps the math exact
            return sp.Rational(repr(v)) if v == v and abs(v) != float("inf") else sp.Float(v)
        raise ExpressionError(f"constant {v!r} of type {type(v).__name__} is not allowed "
                              "(only numbers)", node.col_offset)

    def visit_Name(self, node, depth):
        if node.id in self.names:
            return self.names[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise ExpressionError(f"function '{node.id}' used as a value; call it", node.col_offset)
        known = ", ".join(sorted(self.names)) or "none"
        raise ExpressionError(f"unknown name '{node.id}' (declared inputs, params and "
                              f"expressions: {known})", node.col_offset)

    def visit_BinOp(self, node, depth):
        op = type(node.op)
        if op not in _BINOPS:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed", node.col_offset)
        a = self.visit(node.left, depth)
        b = self.visit(node.right, depth)
        if op is ast.Pow:
            if b.is_Number and a.is_Number and abs(b) > MAX_EXACT_EXPONENT:
                raise ExpressionError(f"exact power with exponent {b} is too large "
                                      f"(at most {MAX_EXACT_EXPONENT})", node.col_offset)
            result = a ** b
        else:
            result = _BINOPS[op](a, b)
        if isinstance(result, sp.Basic) and _not_a_float64(result) and isinstance(a, sp.Basic) \
                and isinstance(b, sp.Basic) and not (_not_a_float64(a) or _not_a_float64(b)):
            raise ExpressionError(f"this evaluates to {result if result in _NON_FINITE else 'a number'} "
                                  "outside float64's finite range", node.col_offset)
        return result

    def visit_UnaryOp(self, node, depth):
        v = self.visit(node.operand, depth)
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return v
        if isinstance(node.op, (ast.Not, ast.Invert)):
            return sp.Not(v)
        raise ExpressionError(f"unary operator {type(node.op).__name__} is not allowed", node.col_offset)

    def visit_Compare(self, node, depth):
        parts = []
        left = self.visit(node.left, depth)
        for op, right_node in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise ExpressionError(f"comparison {type(op).__name__} is not allowed", node.col_offset)
            right = self.visit(right_node, depth)
            parts.append(_COMPARE[type(op)](left, right))
            left = right
        return parts[0] if len(parts) == 1 else sp.And(*parts)

    def visit_BoolOp(self, node, depth):
        vals = [self.visit(v, depth) for v in node.values]
        return sp.And(*vals) if isinstance(node.op, ast.And) else sp.Or(*vals)

    def visit_IfExp(self, node, depth):
        return sp.Piecewise((self.visit(node.body, depth), self.visit(node.test, depth)),
                            (self.visit(node.orelse, depth), True))

    def visit_Tuple(self, node, depth):
        return tuple(self.visit(e, depth) for e in node.elts)

    def visit_Call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(f"only plain function names may be called, not {_describe(node.func)}",
                                  node.col_offset)
        fname = node.func.id
        if fname not in FUNCTIONS and self.losses is not None and node.func.id not in self.names:
            callee = self.losses(fname)
            if callee is not None:
                return self._call_loss(callee, node, depth)
        if fname not in FUNCTIONS:
            raise ExpressionError(f"unknown function '{fname}' (allowed: {', '.join(sorted(FUNCTIONS))})",
                                  node.func.col_offset)
        if node.keywords:
            raise ExpressionError(f"keyword arguments are not allowed in a call of '{fname}'",
                                  node.keywords[0].value.col_offset)
        func = FUNCTIONS[fname]
        if fname in REDUCTIONS:
            args = self._reduction_args(fname, node, depth)
        else:
            args = [self.visit(a, depth) for a in node.args]
        if fname == "Piecewise":
            for a, a_node in zip(args, node.args):
                if not (isinstance(a, tuple) and len(a) == 2):
                    raise ExpressionError("Piecewise takes (value, condition) pairs", a_node.col_offset)
        elif any(isinstance(a, tuple) for a in args):
            raise ExpressionError(f"a tuple is not a valid argument of '{fname}'", node.col_offset)
        try:
            return func(*args)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"bad call of '{fname}': {exc}", node.col_offset) from None

    def _call_loss(self, callee, node, depth):
        """``name(input, ..., [param, ...])``: the catalog loss ``name``'s expression with its
        inputs (positional, in its spec order) and, optionally, its parameters replaced by
        the arguments; parameters not given keep their defaults."""
        if node.keywords:
            raise ExpressionError(f"keyword arguments are not allowed in a call of '{callee.name}'",
                                  node.keywords[0].value.col_offset)
        args = [self.visit(a, depth) for a in node.args]
        ins, pars = callee.inputs, callee.params
        if not len(ins) <= len(args) <= len(ins) + len(pars):
            raise ExpressionError(f"the catalog loss '{callee.name}' takes its inputs "
                                  f"({', '.join(i.name for i in ins)}) and optionally its parameters "
                                  f"({', '.join(p.name for p in pars) or 'none'}), in this order; got {len(args)} "
                                  "arguments", node.col_offset)
        if any(isinstance(a, tuple) or not isinstance(a, sp.Expr) for a in args):
            raise ExpressionError(f"arguments of '{callee.name}' must be expressions", node.col_offset)
        subs = {i.symbol: a for i, a in zip(ins, args)}
        subs.update({p.symbol: a for p, a in zip(pars, args[len(ins):])})
        subs.update({p.symbol: sp.nsimplify(p.default, rational=True) for p in pars[len(args) - len(ins):]})
        return callee.loss.xreplace(subs)

    def _reduction_args(self, fname, node, depth):
        if len(node.args) < 2:
            raise ExpressionError(f"'{fname}' takes (expression, \"axis\"[, p])", node.col_offset)
        axis_node = node.args[1]
        if not (isinstance(axis_node, ast.Constant) and isinstance(axis_node.value, str)):
            raise ExpressionError(f"the axis of '{fname}' must be a quoted axis name", axis_node.col_offset)
        if axis_node.value not in self.axes:
            raise ExpressionError(f"unknown axis '{axis_node.value}' (declared: "
                                  f"{', '.join(sorted(self.axes)) or 'none'})", axis_node.col_offset)
        args = [self.visit(node.args[0], depth), Axis(axis_node.value)]
        args += [self.visit(a, depth) for a in node.args[2:]]
        return args


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator expression", ast.Starred: "star-unpacking",
        ast.NamedExpr: "an assignment expression", ast.List: "a list", ast.Dict: "a dict",
        ast.Set: "a set", ast.JoinedStr: "an f-string", ast.Await: "await", ast.Yield: "yield",
    }
    return kinds.get(type(node), f"syntax '{type(node).__name__}'")


def parse_expression(text: str, names: dict[str, sp.Basic], axes: frozenset[str] = frozenset(),
                     losses=None) -> sp.Basic:
    """Parse ``text`` into a SymPy object using only ``names`` and the whitelist.

    ``losses`` (optional): name -> parsed Spec of a catalog loss, or None; a call of such a
    name inlines that loss's expression (composition, e.g. ``bce(recon, x) + beta*vae_kl(mu, logvar)``).

    Raises :class:`ExpressionError` with the 0-based column of the offending token.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"expression longer than {MAX_CHARS} characters")
    offset = len(text) - len(text.lstrip())
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        # offset 0 or None: the error is at the end of the input (e.g. "pred +")
        col = exc.offset - 1 if exc.offset else len(text.strip())
        raise ExpressionError(f"syntax error: {exc.msg}", offset + col) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("expression could not be parsed (too deeply nested)") from None
    try:
        result = _Walker(names, axes, losses=losses).visit(tree)
    except ExpressionError as exc:
        exc.offset += offset
        raise
    except RecursionError:
        raise ExpressionError("expression nested too deeply") from None
    if isinstance(result, tuple):
        raise ExpressionError("a bare tuple is not an expression", offset)
    if result.has(*_NON_FINITE):
        raise ExpressionError("the expression is not finite (it contains oo, zoo or nan)", offset)
    return result
