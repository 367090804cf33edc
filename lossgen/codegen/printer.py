"""Print SymPy expressions as scalar Python that ``numba.njit`` (and, later,
``numba.cuda.jit(device=True)``) compiles: ``math`` functions, ``a if c else b``,
``abs``/``max``/``min`` and the runtime's stable primitives.  Printers only print;
file structure belongs to the templates.
"""
from __future__ import annotations

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from ..primitives import Primitive


class NumbaPrinter(PythonCodePrinter):
    """Scalar math printer for Numba kernels."""

    def __init__(self):
        super().__init__({"standard": "python3", "fully_qualified_modules": True,
                          "allow_unknown_functions": False})
        self._invariants: frozenset[str] = frozenset()

    # numbers: exact rationals become the nearest double, written so a person reads it
    # (integers beyond 2**53 as their nearest double's repr, 1e+300, not 301 digits)
    def _print_Rational(self, expr):
        if expr.q == 1:
            return self._print_Integer(expr)
        return repr(float(expr))

    def _print_Integer(self, expr):
        return f"{int(expr)}.0" if abs(int(expr)) < 2 ** 53 else repr(float(expr))

    def _print_Half(self, expr):
        return "0.5"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Infinity(self, expr):
        return "math.inf"

    def _print_NegativeInfinity(self, expr):
        return "-math.inf"

    def _print_NaN(self, expr):
        return "math.nan"

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.as_base_exp()
        if exp.is_Integer and 0 < abs(int(exp)) <= 64:
            # integer powers: keep the exponent an integer so Numba emits powi; a
            # negative power is (1/b)**n, which underflows gradually where b**n overflows
            b = self.parenthesize(base, sp.printing.precedence.PRECEDENCE["Pow"])
            e = int(exp)
            return f"{b}**{e}" if e > 0 else (f"(1.0/{b})" if e == -1 else f"(1.0/{b})**{-e}")
        if exp == sp.Rational(1, 2):
            return f"math.sqrt({self._print(base)})"
        if exp == -sp.Rational(1, 2):
            return f"(1.0/math.sqrt({self._print(base)}))"
        return super()._print_Pow(expr, rational=rational)

    def _print_Mul(self, expr):
        # integer powers in a denominator become successive divisions, x/p/p/p rather
        # than x/p**3: p**3 overflows (and the quotient flushes to 0) long before the
        # quotient itself leaves the range of doubles
        num, den = [], []
        for f in expr.args:
            b, e = f.as_base_exp()
            if e.is_Integer and -6 <= int(e) <= -2 and not b.is_Number:
                den += [b] * -int(e)
            else:
                num.append(f)
        if not den:
            return super()._print_Mul(expr)
        prec = sp.printing.precedence.PRECEDENCE
        head = self.parenthesize(sp.Mul(*num), prec["Mul"]) if num else "1.0"
        return head + "".join(f"/{self.parenthesize(b, prec['Pow'])}" for b in den)

    # kinks: midpoint subgradient at the kink itself
    def _print_sign(self, expr):
        return f"sign({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return f"heaviside({self._print(expr.args[0])})"

    def _print_DiracDelta(self, expr):
        return "0.0"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _minmax(self, name, args):
        args = [self._print(a) for a in args]
        out = args[0]
        for a in args[1:]:
            out = f"{name}({out}, {a})"
        return out

    def _print_Max(self, expr):
        return self._minmax("max", expr.args)

    def _print_Min(self, expr):
        return self._minmax("min", expr.args)

    def _print_Piecewise(self, expr):
        if any(self._invariant_part(cond)[0] for _, cond in expr.args):
            return self._print_unswitched(expr.args)
        parts = []
        has_default = False
        for value, cond in expr.args:
            if cond == sp.true:
                parts.append(self._print(value))
                has_default = True
                break
            parts.append(f"({self._print(value)}) if ({self._print(cond)}) else")
        if not has_default:
            parts.append("math.nan")
        return "(" + " ".join(parts) + ")"

    def _invariant_part(self, cond):
        """A condition split into its conjuncts on the loop's invariants (parameters)
        only and the rest: (invariant conjuncts, other conjuncts)."""
        conjuncts = cond.args if isinstance(cond, sp.And) else (cond,)
        inv = [c for c in conjuncts if c.free_symbols
               and {s.name for s in c.free_symbols} <= self._invariants]
        return inv, [c for c in conjuncts if c not in inv]

    def _print_unswitched(self, pieces) -> str:
        """Pieces whose conditions test parameters: the parameter test a branch, which
        LLVM moves out of the kernel's loop (one loop per outcome), the rest a select
        where the piece is branch-free.  A branch nested in a branch would be merged
        into one condition first, and not moved (poisson_nll's Stirling term
        ``select(target > 1, ..., 0) if full > 0 else 0`` costs nothing at full = 0;
        as one ``(full > 0) and (target > 1)`` its logs were computed for every
        element)."""
        if not pieces:
            return "math.nan"
        (value, cond), rest = pieces[0], pieces[1:]
        if cond == sp.true:
            return self._print(value)
        inv, other = self._invariant_part(cond)
        otherwise = self._print_unswitched(rest)
        if other:
            test = sp.And(*other)
            if is_branch_free(value) and all(is_branch_free(v) for v, _ in rest):
                inner = f"select({self._print_condition(test)}, {self._print(value)}, {otherwise})"
            else:
                inner = f"({self._print(value)}) if ({self._print(test)}) else {otherwise}"
        else:
            inner = self._print(value)
        if not inv:
            return f"({inner})"
        return f"(({inner}) if ({self._print(sp.And(*inv))}) else {otherwise})"

    def _print_condition(self, cond) -> str:
        """A condition of a select: ``&`` and ``|`` on booleans (no short-circuit, so
        no branch) and ``not`` (not ``~``: in plain Python, which Numba's CUDA simulator
        runs, ``~True`` is -2, a true value)."""
        if isinstance(cond, (sp.And, sp.Or)):
            op = " & " if isinstance(cond, sp.And) else " | "
            return op.join(self._condition_operand(a) for a in sp.ordered(cond.args))
        if isinstance(cond, sp.Not):
            return f"(not {self._condition_operand(cond.args[0])})"
        return self._print(cond)

    def _condition_operand(self, cond) -> str:
        text = self._print_condition(cond)
        return text if isinstance(cond, sp.core.relational.Relational) else f"({text})"

    def _print_detach(self, expr):
        # the value; that it is held constant shaped the derived gradient already
        return f"({self._print(expr.args[0])})"

    # exp and log: the runtime's branch-free versions (lossgen.runtime.vecmath), which
    # vectorize; math.exp/math.log are calls into the C library, one element at a time
    def _print_exp(self, expr):
        return f"exp({self._print(expr.args[0])})"

    def _print_log(self, expr):
        if len(expr.args) != 1:
            raise NotImplementedError("log with a base is not printed; SymPy writes it as a quotient")
        return f"log({self._print(expr.args[0])})"

    # tanh: the runtime's branch-free version too (SymPy's printer would write math.tanh,
    # a libm call)
    def _print_tanh(self, expr):
        return f"tanh({self._print(expr.args[0])})"

    def _print_Function(self, expr):
        if isinstance(expr, Primitive):
            return f"{type(expr).runtime_name}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)

    # the expm1 and log1p primitives share their class names with SymPy's codegen
    # functions, whose printer methods (math.expm1, math.log1p: libm calls) would be
    # found first: they print as every primitive does
    _print_expm1 = _print_log1p = _print_Function

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"


#: the functions whose runtime version (or LLVM intrinsic) has no branch and no call
_BRANCH_FREE_FUNCS = (sp.exp, sp.log, sp.Abs, sp.Max, sp.Min, sp.sign, sp.Heaviside, sp.tanh,
                      sp.DiracDelta, sp.Piecewise)
_BRANCH_FREE_NODES = (sp.Symbol, sp.Number, sp.NumberSymbol, sp.Add, sp.Mul,
                      sp.core.relational.Relational, sp.And, sp.Or, sp.Not,
                      sp.logic.boolalg.BooleanAtom, sp.Tuple)


def _inlined_primitive(expr) -> bool:
    """A primitive whose runtime function is forceinlined (those are branch-free;
    the series primitives log1pmx and expm1mx are calls with branches)."""
    from ..runtime import scalar
    fn = getattr(scalar, type(expr).runtime_name, None)
    return bool(fn is not None and getattr(fn, "targetoptions", {}).get("forceinline"))


def is_branch_free(expr: sp.Basic) -> bool:
    """Whether the printed expression compiles to straight-line code: arithmetic,
    integer and square-root powers, comparisons, the runtime's branch-free exp, log,
    log1p, tanh, ... and the forceinlined primitives; no libm call (math.pow, a general
    power), no call with branches."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, _BRANCH_FREE_NODES) or isinstance(node, _BRANCH_FREE_FUNCS):
            continue
        if isinstance(node, sp.Pow):
            e = node.exp
            if (e.is_Integer and 0 < abs(int(e)) <= 64) or e in (sp.S.Half, -sp.S.Half):
                continue
            return False
        if isinstance(node, Primitive) and _inlined_primitive(node):
            continue
        if type(node).__name__ == "detach":
            continue
        return False
    return True


_PRINTER = NumbaPrinter()


def print_expr(expr: sp.Basic, invariants=frozenset()) -> str:
    """One expression as a Numba-compilable Python expression; ``invariants`` names the
    symbols a kernel's loop does not change (its parameters): a Piecewise condition on
    those alone becomes a branch the compiler moves out of the loop."""
    _PRINTER._invariants = frozenset(invariants)
    try:
        return _PRINTER.doprint(expr)
    finally:
        _PRINTER._invariants = frozenset()
