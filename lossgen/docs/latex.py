r"""SymPy expressions -> LaTeX for the catalog, in one plain, unambiguous dialect.

The dialect is standard LaTeX that pdflatex (amsmath) and GitHub's MathJax both render,
with no custom macros, chosen so that a reader (and SymPy's LaTeX parser, which the
tests use to read every published formula back) has exactly one reading:

* names: Greek letters as ``\delta``; one letter as itself; ``x_t`` as ``x_{t}``;
  longer names as ``\mathit{label\_smoothing}``;
* every product written with ``\cdot`` (``\delta \cdot (r)``, never ``\delta(r)``,
  which would read as a function application);
* functions by name: ``\log``, ``\exp``, ``\sqrt``, ``\max``, ``\min``, ``\tanh``,
  ``\operatorname{sech}``, ``\operatorname{sign}``, ``\operatorname{H}`` (Heaviside,
  with ``H(0) = 1/2``), ``\delta_{\mathrm{D}}`` (Dirac; a parameter may be called delta), and the stable primitives by their own
  LaTeX (:mod:`lossgen.primitives.functions`: ``\sigma``, ``\operatorname{softplus}``,
  ``\log\sigma``, ``\log\cosh``, ``\operatorname{logaddexp}``, ``\log(1 + x)``, ...);
* ``e`` and ``\pi`` are the constants; a Piecewise is a ``cases`` environment whose
  last branch reads "otherwise".
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..primitives.functions import Primitive, log1p, xlogy

GREEK = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau "
         "upsilon phi chi psi omega").split()
#: Greek names that would clash with a notation of the catalog (sigma is the sigmoid,
#: pi the constant): printed as words.
_RESERVED_GREEK = {"sigma", "pi"}


def symbol_latex(name: str) -> str:
    """LaTeX of a spec identifier (see the module docstring)."""
    base, _, sub = name.partition("_")
    if name in GREEK and name not in _RESERVED_GREEK:
        return "\\" + name
    if name == "lam":
        return r"\lambda"
    if sub and "_" not in sub and sub.isalnum():
        head = ("\\" + base) if (base in GREEK and base not in _RESERVED_GREEK) else (base if len(base) == 1 else None)
        if head is not None:
            return f"{head}_{{{sub}}}"
    if len(name) == 1:
        return name
    return r"\mathit{" + name.replace("_", r"\_") + "}"


#: functions printed as HEAD(args): (head, how many arguments are shown).  Heaviside
#: shows only its argument (H(0) = 1/2 is the catalog's convention, stated in the
#: notation section); the Dirac delta is subscripted D since a parameter may be delta.
NAMED = {"sign": (r"\operatorname{sign}", None), "Heaviside": (r"\operatorname{H}", 1),
         "DiracDelta": (r"\delta_{\mathrm{D}}", 1), "tanh": (r"\tanh", None), "cosh": (r"\cosh", None),
         "sinh": (r"\sinh", None), "log": (r"\log", None), "Max": (r"\max", None), "Min": (r"\min", None)}


class CatalogLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the catalog's names and unambiguous conventions."""

    def __init__(self, settings=None):
        super().__init__({"mul_symbol": "dot", "fold_short_frac": False, "inv_trig_style": "full",
                          "ln_notation": False, **(settings or {})})

    def _print_Symbol(self, expr, style="plain"):
        return symbol_latex(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Exp1(self, expr):
        return "e"

    def _print_Pi(self, expr):
        return r"\pi"

    def _print(self, expr, **kwargs):
        # a stable primitive prints its own LaTeX (``_latex``), except log1p, whose
        # ``1 + -x`` is written ``1 - x`` here; wrapped when raised to a power so that
        # ``\sigma(x)^{2}`` has one reading
        if isinstance(expr, Primitive):
            if isinstance(expr, log1p):
                inner = r"\log\left(" + self._print(sp.Add(sp.S.One, expr.args[0])) + r"\right)"
            elif isinstance(expr, xlogy):  # a product: written with \cdot, as every product here
                x, y = expr.args
                inner = (self.parenthesize(x, sp.printing.precedence.PRECEDENCE["Mul"]) + r" \cdot \log\left("
                         + self._print(y) + r"\right)")
            else:
                inner = expr._latex(self)
            exp = kwargs.get("exp")
            return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"
        # (Max and Min are not sympy Functions, hence the check on Basic)
        named = NAMED.get(type(expr).__name__) if isinstance(expr, sp.Basic) else None
        if named is not None:
            head, nargs = named
            if isinstance(expr, sp.DiracDelta) and len(expr.args) > 1 and expr.args[1] != 0:
                raise ValueError(f"derivatives of the Dirac delta are not printed: {expr}")
            return self._named(head, expr.args[:nargs], kwargs.get("exp"))
        return super()._print(expr, **kwargs)

    def _named(self, head, args, exp=None):
        inner = head + r"\left(" + ", ".join(self._print(a) for a in args) + r"\right)"
        return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"

    def _print_sech(self, expr, exp=None):
        inner = r"\operatorname{sech}\left(" + self._print(expr.args[0]) + r"\right)"
        return inner if exp is None else rf"{inner}^{{{exp}}}"

    def _print_exp(self, expr, exp=None):
        inner = "e^{" + self._print(expr.args[0]) + "}"
        return inner if exp is None else rf"\left({inner}\right)^{{{exp}}}"

    def _print_Abs(self, expr, exp=None):
        inner = r"\left|" + self._print(expr.args[0]) + r"\right|"
        return inner if exp is None else rf"{inner}^{{{exp}}}"

    def _print_Relational(self, expr):
        ops = {"<": "<", ">": ">", "<=": r"\le", ">=": r"\ge", "==": "=", "!=": r"\ne"}
        return f"{self._print(expr.lhs)} {ops[expr.rel_op]} {self._print(expr.rhs)}"

    def _print_And(self, expr):
        return r" \text{ and } ".join(self._print(a) for a in expr.args)

    def _print_Or(self, expr):
        return r" \text{ or } ".join(self._print(a) for a in expr.args)

    def _print_Piecewise(self, expr):
        rows = []
        for value, cond in expr.args:
            where = r"\text{otherwise}" if cond is sp.true else r"\text{if } " + self._print(cond)
            rows.append(f"{self._print(value)} & {where}")
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    def _print_Float(self, expr):
        # shortest repr that reads back to the same double
        return repr(float(expr)).replace("e", r" \cdot 10^{") + ("}" if "e" in repr(float(expr)) else "")


def to_latex(expr: sp.Basic) -> str:
    """The catalog's LaTeX for ``expr`` (one line)."""
    text = CatalogLatexPrinter().doprint(expr)
    return re.sub(r"\s+", " ", text).strip()
