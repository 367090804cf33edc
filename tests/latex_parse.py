r"""Read a published catalog formula back into SymPy, independently of the printer.

SymPy's LaTeX parser (``parse_latex(..., backend="lark")``) parses the arithmetic:
sums, products, fractions, powers, ``|x|``, symbols and numbers, relations.  It knows
no ``cases`` environment, no ``\operatorname``, no ``\pi``, and its grammar reads
``f(x)`` and ``\log(a) + b`` two ways each; so the structured parts are taken apart
here first, by their delimiters, and each argument is parsed again by SymPy:

* ``\begin{cases} v & \text{if } c \\ ... & \text{otherwise} \end{cases}`` -> Piecewise;
* ``NAME(args)`` for the function names below (balanced parentheses) -> the function;
* ``\pi``, ``\mathit{long\_name}`` -> the constant / symbol;
* the structured catalog's reductions (``\sum_{k=1}^{K}``, ``\frac{1}{K}\sum``, ``\log(\sum e^{..})``,
  ``\max_{k}``, ``\|e\|_{p}``) over an axis of length ``K``, ``n`` or ``K_{\mathrm{a}}``, elements
  ``x_{k}``, takes ``x_{\mathit{t}}``, adjoints ``\bar{r}``, Iverson brackets ``[c]``, and
  ``\operatorname{sg}(x)`` (stop-gradient: lossgen's ``detach``, value x, derivative 0).

Each is replaced by a placeholder symbol before SymPy parses the rest, and substituted
back after.  ``\left``/``\right`` are sizing only and are dropped.  A formula SymPy
reads more than one way (an ``_ambig`` tree) is refused unless every reading is the same
expression.  Names are read back generically (``\alpha_{t}`` -> ``alpha_t``,
``\mathit{label\_smoothing}`` -> ``label_smoothing``, ``\lambda`` -> ``lam``).
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.parsing.latex import parse_latex

from lossgen.primitives.functions import log_sigmoid, logaddexp, logcosh, sigmoid, softplus
from lossgen.spec.structure import Axis, detach, logsumexp_over, max_over, mean_over, norm_over, sum_over

#: function heads (after \left/\right are dropped), longest first
FUNCTIONS = {
    r"\log\sigma(": log_sigmoid,
    r"\log\cosh(": logcosh,
    r"\operatorname{softplus}(": softplus,
    r"\operatorname{logaddexp}(": logaddexp,
    r"\operatorname{sign}(": sp.sign,
    r"\operatorname{sg}(": detach,
    r"\operatorname{H}(": lambda x: sp.Heaviside(x, sp.Rational(1, 2)),
    r"\operatorname{sech}(": sp.sech,
    r"\sigma(": sigmoid,
    r"\delta_{\mathrm{D}}(": sp.DiracDelta,
    r"\tanh(": sp.tanh,
    r"\sin(": sp.sin,
    r"\cos(": sp.cos,
    r"\cosh(": sp.cosh,
    r"\sinh(": sp.sinh,
    r"\log(": sp.log,
    r"\exp(": sp.exp,
    r"\max(": sp.Max,
    r"\min(": sp.Min,
}
ALIASES = {"lambda": "lam"}
#: the structured catalog's reductions (lossgen/docs/structured.py), after \left/\right are dropped:
#: read as lossgen's reduction functions over an Axis named ``letter:length`` (its index letter and
#: upper bound: k:K, u:K@latent, i:n; a max just ``letter``, a norm ``norm``)
SIZE = r"(?P<{}>[A-Za-z](?:_\{{\\mathrm\{{[A-Za-z]+\}}\}})?)"
STRUCTURED = [
    ("mean", re.compile(rf"\\frac\{{1\}}\{{{SIZE.format('d')}\}}\\sum_\{{(?P<i>[a-z])=1\}}\^\{{{SIZE.format('n')}\}}\(")),
    ("logsumexp", re.compile(rf"\\log\(\\sum_\{{(?P<i>[a-z])=1\}}\^\{{{SIZE.format('n')}\}} e\^\{{")),
    ("sum", re.compile(rf"\\sum_\{{(?P<i>[a-z])=1\}}\^\{{{SIZE.format('n')}\}}\(")),
    ("max", re.compile(r"\\max_\{(?P<i>[a-z])\}\(")),
    ("norm", re.compile(r"\\\|")),
    ("iverson", re.compile(r"\[")),
]
#: x_{k}, x_{\mathit{t}}: an element or a take of an input with an axis (a \mathit name, or a
#: Greek or one-letter name subscripted by a \mathit name)
INDEXED = re.compile(r"(?P<base>\\mathit\{[A-Za-z0-9\\_]+\}|\\[a-z]+|[A-Za-z])"
                     r"_\{(?P<sub>[ijkluvw]|\\mathit\{[A-Za-z0-9\\_]+\})\}")

#: the length of one of several named axes: K_{\mathrm{feature}}
LENGTH = re.compile(r"([A-Za-z])_\{\\mathrm\{([A-Za-z]+)\}\}")


class FormulaError(ValueError):
    pass


def _length(tex: str) -> str:
    r"""A reduction's upper bound as a name: K, n, or K@a for K_{\mathrm{a}}."""
    m = LENGTH.fullmatch(tex)
    return f"{m[1]}@{m[2]}" if m else tex


def _match(tex: str, i: int, open_: str, close: str) -> int:
    """Index just after the delimiter closing the one that opens at ``i``."""
    depth = 0
    j = i
    while j < len(tex):
        if tex.startswith(open_, j):
            depth += 1
            j += len(open_)
            continue
        if tex.startswith(close, j):
            depth -= 1
            j += len(close)
            if depth == 0:
                return j
            continue
        j += 1
    raise FormulaError(f"unbalanced {open_!r} at {i} in {tex!r}")


def _split_top(tex: str, sep: str) -> list[str]:
    """Split at ``sep`` outside (), {}, and nested cases."""
    parts, depth, start, j = [], 0, 0, 0
    while j < len(tex):
        if tex.startswith(r"\begin{cases}", j):
            depth += 1
            j += len(r"\begin{cases}")
            continue
        if tex.startswith(r"\end{cases}", j):
            depth -= 1
            j += len(r"\end{cases}")
            continue
        c = tex[j]
        if c in "({":
            depth += 1
        elif c in ")}":
            depth -= 1
        elif depth == 0 and tex.startswith(sep, j):
            parts.append(tex[start:j])
            j += len(sep)
            start = j
            continue
        j += 1
    parts.append(tex[start:])
    return parts


class _Reader:
    def __init__(self):
        self.holders: dict[str, sp.Basic] = {}

    def hold(self, value) -> str:
        k = len(self.holders)
        name = "zzph" + "".join(chr(ord("a") + int(d)) for d in str(k))
        self.holders[name] = value
        return r"\mathit{" + name + "}"

    def expr(self, tex: str) -> sp.Basic:
        tex = self._flatten(tex)
        return self._sympy(tex)

    def _reduction(self, tex: str, j: int):
        """A reduction of the structured catalog at ``j`` (see STRUCTURED): (node, end) or None."""
        for kind, pattern in STRUCTURED:
            m = pattern.match(tex, j)
            if m is None:
                continue
            start = m.end() - 1
            if kind == "logsumexp":
                end = _match(tex, start, "{", "}")
                if not tex.startswith(")", end):
                    raise FormulaError(f"logsumexp not closed at {end} in {tex!r}")
                body, stop = tex[start + 1:end - 1], end + 1
            elif kind == "norm":
                end = tex.find(r"\|_{", m.end())
                if end < 0:
                    raise FormulaError(f"unclosed norm at {j} in {tex!r}")
                pend = _match(tex, end + 3, "{", "}")
                body, stop = tex[m.end():end], pend
                return norm_over(self.expr(body), Axis("norm"), self.expr(tex[end + 4:pend - 1])), stop
            elif kind == "iverson":
                end = _match(tex, start, "[", "]")
                return sp.Piecewise((sp.S.One, self._condition(tex[start + 1:end - 1])), (sp.S.Zero, True)), end
            else:
                end = _match(tex, start, "(", ")")
                body, stop = tex[start + 1:end - 1], end
            cls = {"sum": sum_over, "mean": mean_over, "logsumexp": logsumexp_over, "max": max_over}[kind]
            if kind == "max":
                return cls(self.expr(body), Axis(m["i"])), stop
            size = _length(m["n"])
            if kind == "mean" and _length(m["d"]) != size:
                raise FormulaError(f"a mean over {size} divided by {m['d']} in {tex!r}")
            return cls(self.expr(body), Axis(f"{m['i']}:{size}")), stop
        return None

    def _flatten(self, tex: str) -> str:
        """Replace every structured part by a placeholder, innermost parts parsed first."""
        out = []
        j = 0
        while j < len(tex):
            if tex.startswith(r"\bar{", j):   # an adjoint: \bar{r} -> the symbol bar:r
                end = _match(tex, j + 4, "{", "}")
                inner = self.expr(tex[j + 5:end - 1])
                if not isinstance(inner, sp.Symbol):
                    raise FormulaError(f"\\bar of a non-symbol {inner} in {tex!r}")
                out.append(self.hold(sp.Symbol(f"bar:{inner.name}")))
                j = end
                continue
            found = self._reduction(tex, j)
            if found is not None:
                out.append(self.hold(found[0]))
                j = found[1]
                continue
            m = LENGTH.match(tex, j)
            if m:   # the length of a named axis, K_{\mathrm{a}}: the symbol K@a
                out.append(self.hold(sp.Symbol(f"{m[1]}@{m[2]}")))
                j = m.end()
                continue
            m = INDEXED.match(tex, j)
            if m:   # an element x_{k} or a take x_{t} of an input along an axis: one symbol x__k / x__t
                base = m["base"].replace(r"\_", "_")
                base = base[len(r"\mathit{"):-1] if base.startswith(r"\mathit{") else base.lstrip("\\")
                sub = m["sub"].replace(r"\_", "_")
                sub = sub[len(r"\mathit{"):-1] if sub.startswith(r"\mathit{") else sub
                out.append(self.hold(sp.Symbol(f"{ALIASES.get(base, base)}__{sub}")))
                j = m.end()
                continue
            if tex.startswith(r"\begin{cases}", j):
                end = _match(tex, j, r"\begin{cases}", r"\end{cases}")
                body = tex[j + len(r"\begin{cases}"):end - len(r"\end{cases}")]
                out.append(self.hold(self._cases(body)))
                j = end
                continue
            head = next((h for h in FUNCTIONS if tex.startswith(h, j)), None)
            if head is not None:
                start = j + len(head) - 1
                end = _match(tex, start, "(", ")")
                args = [self.expr(a) for a in _split_top(tex[start + 1:end - 1], ",")]
                out.append(self.hold(FUNCTIONS[head](*args)))
                j = end
                continue
            if tex.startswith(r"\pi", j) and not tex[j + 3:j + 4].isalpha():
                out.append(self.hold(sp.pi))
                j += 3
                continue
            m = re.match(r"\\mathit\{([A-Za-z0-9\\_]+)\}", tex[j:])
            if m:
                out.append(self.hold(sp.Symbol(m.group(1).replace(r"\_", "_"))))
                j += m.end()
                continue
            out.append(tex[j])
            j += 1
        return "".join(out)

    def _cases(self, body: str) -> sp.Piecewise:
        pairs = []
        for row in _split_top(body, r"\\"):
            value, _, cond = row.partition("&")
            cond = cond.strip()
            if cond == r"\text{otherwise}":
                c = sp.true
            elif cond.startswith(r"\text{if }"):
                c = self._condition(cond[len(r"\text{if }"):])
            else:
                raise FormulaError(f"a cases row needs '\\text{{if }} ...' or '\\text{{otherwise}}': {row!r}")
            pairs.append((self.expr(value), c))
        return sp.Piecewise(*pairs)

    def _condition(self, tex: str):
        ors = _split_top(tex, r"\text{ or }")
        if len(ors) > 1:
            return sp.Or(*[self._condition(t) for t in ors])
        ands = _split_top(tex, r"\text{ and }")
        if len(ands) > 1:
            return sp.And(*[self._condition(t) for t in ands])
        return self.expr(tex)

    def _sympy(self, tex: str) -> sp.Basic:
        try:
            parsed = parse_latex(tex, backend="lark")
        except Exception as exc:  # lark's errors do not share one base class
            raise FormulaError(f"SymPy's LaTeX parser refused {tex!r}: {type(exc).__name__}: {exc}") from None
        parsed = _unambiguous(parsed, tex)
        return self._resolve(parsed)

    def _resolve(self, e):
        subs = {}
        for s in e.free_symbols:
            name = str(s)
            if name in self.holders:
                subs[s] = self.holders[name]
            elif name == "e":
                subs[s] = sp.E
            else:
                clean = re.sub(r"[{}]", "", name)
                subs[s] = sp.Symbol(ALIASES.get(clean, clean))
        return e.xreplace(subs)


def _unambiguous(parsed, tex):
    from lark import Tree
    if not isinstance(parsed, Tree):
        return parsed
    readings = [r for r in parsed.children if not isinstance(r, Tree)]
    if len(readings) != len(parsed.children) or any(sp.simplify(r - readings[0]) != 0 for r in readings[1:]):
        raise FormulaError(f"{tex!r} has more than one reading: {parsed.children}")
    return readings[0]


def parse_formula(tex: str) -> sp.Basic:
    """A published formula (right-hand side) as a SymPy expression."""
    tex = re.sub(r"\\(left|right)(?![A-Za-z])", "", tex)
    return _Reader().expr(tex)


def parse_condition(tex: str):
    """A published condition (relations joined by ``\\text{ and }`` / ``\\text{ or }``)."""
    tex = re.sub(r"\\(left|right)(?![A-Za-z])", "", tex)
    return _Reader()._condition(tex)
