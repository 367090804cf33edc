r"""What a property is claimed over: the ranges of inputs and parameters, and views.

A property of a loss :math:`L(x, y; \theta)` is claimed for every input in its declared
domain and every parameter the spec's constraints allow (parameters the user fixes
with ``--param`` are single values).  :class:`Problem` holds those ranges as SymPy sets:

* a domain becomes an :class:`~sympy.Interval` (open or closed ends) or a
  :class:`~sympy.FiniteSet` of labels;
* a constraint becomes ``constraint.as_set()`` (e.g. ``(tau > 0) & (tau < 1)`` is
  :math:`(0, 1)`, ``(full == 0) | (full == 1)`` is :math:`\{0, 1\}`); a constraint
  over several parameters is over-approximated by the real line (sound for proofs;
  a witness is always checked against the real constraint).

Every symbol is replaced by one that carries the SymPy assumptions its range implies
(``delta > 0`` gives ``positive=True``), so sign reasoning can use them.

A :class:`View` is the loss as a function of one variable :math:`x`:

* an input that enters only through a shift — :math:`\partial L/\partial y = k\,
  \partial L/\partial x` with :math:`k` constant, :math:`x` real — is set to a point
  of its domain (a location loss :math:`g(x - y)` becomes :math:`g(x)`, with
  :math:`x` standing for the residual);
* a margin loss (labels :math:`t = \pm 1`, :math:`L(x, -1) = L(-x, 1)`) keeps
  :math:`t = 1`: :math:`x` stands for the margin :math:`t x`;
* other discrete inputs and parameters are enumerated (one view per case);
* the rest (continuous inputs, continuous parameters) stay symbols: the *context*.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import sympy as sp

from ..spec.model import Domain, Spec
from .budget import Deadline, attempt

MAX_CASES = 16


def domain_set(domain: Domain) -> sp.Set:
    if domain.values is not None:
        return sp.FiniteSet(*[sp.nsimplify(v) for v in domain.values])
    lo = -sp.oo if math.isinf(domain.lo) else sp.nsimplify(domain.lo)
    hi = sp.oo if math.isinf(domain.hi) else sp.nsimplify(domain.hi)
    return sp.Interval(lo, hi, domain.lo_open or lo == -sp.oo, domain.hi_open or hi == sp.oo)


def constraint_set(constraint, symbol: sp.Symbol) -> sp.Set:
    """The values of ``symbol`` a one-parameter constraint allows (else the reals)."""
    if constraint is None or constraint.free_symbols != {symbol}:
        return sp.Reals
    got = attempt(lambda: constraint.as_set(), 2.0)
    return got if isinstance(got, sp.Set) else sp.Reals


def set_hull(s: sp.Set) -> tuple[float, float]:
    """Numeric bounds (lo, hi) of a set, infinities allowed; the reals if unknown."""
    try:
        lo, hi = s.inf, s.sup
        lo = float(lo) if lo.is_number else -math.inf
        hi = float(hi) if hi.is_number else math.inf
        return lo, hi
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return -math.inf, math.inf


def assumptions_of(s: sp.Set) -> dict[str, bool]:
    lo, hi = set_hull(s)
    zero_in = s.contains(0)
    a = {"real": True}
    if lo > 0 or (lo == 0 and zero_in is sp.false):
        a["positive"] = True
    elif lo >= 0:
        a["nonnegative"] = True
    elif hi < 0 or (hi == 0 and zero_in is sp.false):
        a["negative"] = True
    elif hi <= 0:
        a["nonpositive"] = True
    return a


def representative(s: sp.Set) -> sp.Expr:
    """A simple point of ``s``: 0 when it is in, else a point near an end."""
    if s.contains(0) is sp.true:
        return sp.S.Zero
    if isinstance(s, sp.FiniteSet):
        return sorted(s.args, key=lambda v: (abs(v), v))[0]
    lo, hi = set_hull(s)
    if math.isinf(lo) and math.isinf(hi):
        return sp.S.Zero
    if math.isinf(hi):
        return sp.nsimplify(lo) + 1
    if math.isinf(lo):
        return sp.nsimplify(hi) - 1
    return (sp.nsimplify(lo) + sp.nsimplify(hi)) / 2


def _relations_to_zero(e: sp.Expr) -> sp.Expr:
    """Every relation a < b written as a - b < 0 (so a shift of both sides cancels)."""
    return e.replace(lambda v: isinstance(v, sp.core.relational.Relational) and v.rhs != 0,
                     lambda v: v.func(sp.expand(v.lhs - v.rhs), 0))


@dataclass
class View:
    """The loss (or any expression) as a function of one variable ``var``."""

    input: str                    # the spec input the variable is
    var: sp.Symbol
    label: str                    # what ``var`` stands for: "pred", "pred - target", "target*pred"
    var_set: sp.Set
    subs: dict                    # assumed symbol -> value substituted for this view
    case: str                     # human description of the substitution ("" if none)
    kind: str = "plain"           # plain | location | margin
    context: tuple = ()           # symbols still free besides var (continuous inputs, params)

    def apply(self, expr: sp.Expr) -> sp.Expr:
        return expr.xreplace(self.subs)


@dataclass
class Problem:
    """A spec with the ranges its properties are claimed over."""

    spec: Spec
    fixed: dict[str, float]
    deadline: Deadline
    sym: dict = field(default_factory=dict)         # spec symbol -> assumed symbol
    ranges: dict = field(default_factory=dict)      # assumed symbol -> sp.Set
    values: dict = field(default_factory=dict)      # assumed param symbol -> given/default value
    loss: sp.Expr = sp.S.Zero
    by_name: dict = field(default_factory=dict)     # name -> assumed symbol
    _checks: list | None = None

    @classmethod
    def build(cls, spec: Spec, fixed: dict[str, float] | None = None, deadline: Deadline | None = None):
        fixed = dict(fixed or {})
        unknown = set(fixed) - {p.name for p in spec.params}
        if unknown:
            from ..errors import LossgenError
            raise LossgenError(f"{spec.name}: no parameter named {', '.join(sorted(unknown))}")
        self = cls(spec, fixed, deadline or Deadline(None))
        for inp in spec.inputs:
            s = domain_set(inp.domain)
            new = sp.Symbol(inp.name, **assumptions_of(s))
            self.sym[inp.symbol], self.ranges[new], self.by_name[inp.name] = new, s, new
        for p in spec.params:
            if p.name in fixed:
                s = sp.FiniteSet(sp.nsimplify(fixed[p.name], rational=True))
            else:
                s = constraint_set(p.constraint, p.symbol)
            new = sp.Symbol(p.name, **assumptions_of(s))
            self.sym[p.symbol], self.ranges[new], self.by_name[p.name] = new, s, new
            self.values[new] = float(fixed.get(p.name, p.default))
        self.loss = spec.loss.xreplace(self.sym)
        if fixed and not self.constraint_holds({}):
            from ..errors import LossgenError
            bad = [f"{p.name} ({p.constraint_text})" for p in spec.params if p.constraint is not None]
            raise LossgenError(f"{spec.name}: the given parameters violate a constraint: {', '.join(bad)}")
        return self

    # -- symbols -----------------------------------------------------------------------
    def input_symbol(self, name: str) -> sp.Symbol:
        return self.by_name[name]

    @property
    def params(self) -> list[sp.Symbol]:
        return [self.by_name[p.name] for p in self.spec.params]

    @property
    def inputs(self) -> list[sp.Symbol]:
        return [self.by_name[i.name] for i in self.spec.inputs]

    def param_values(self) -> dict:
        """The given or default value of every parameter (exact rationals)."""
        return {s: sp.nsimplify(v, rational=True) for s, v in self.values.items()}

    def constraint_holds(self, point: dict) -> bool:
        """Whether numeric parameter values satisfy every spec constraint."""
        if self._checks is None:
            syms = [p.symbol for p in self.spec.params]
            self._checks = [sp.lambdify(syms, p.constraint, "math")
                            for p in self.spec.params if p.constraint is not None]
        vals = [float(point.get(self.by_name[p.name], self.values[self.by_name[p.name]])) for p in self.spec.params]
        try:
            return all(bool(c(*vals)) for c in self._checks)
        except (TypeError, ValueError, ZeroDivisionError):
            return False

    def differentiable_names(self) -> list[str]:
        if self.spec.differentiable_inputs:
            return [i.name for i in self.spec.differentiable_inputs]
        pred = self.spec.prediction
        return [pred.name] if pred.domain.values is None else []

    # -- views ---------------------------------------------------------------------------
    def shift_factor(self, expr: sp.Expr, x: sp.Symbol, y: sp.Symbol):
        """k with dL/dy = k dL/dx (k free of inputs), or None."""
        h = sp.Dummy("h")
        canon = _relations_to_zero(expr)
        for k in (sp.S.NegativeOne, sp.S.One):
            # dL/dy = k dL/dx  <=>  L(x - k h, y + h) = L(x, y) for every h
            if _relations_to_zero(expr.xreplace({x: x - k * h, y: y + h})) == canon:
                return k
        dx, dy = sp.diff(expr, x), sp.diff(expr, y)
        if dy == 0:
            return sp.S.Zero
        for k in (sp.S.NegativeOne, sp.S.One):
            if sp.expand(dy - k * dx) == 0:
                return k
        ratio = attempt(lambda: sp.cancel(sp.together(dy / dx)), 1.0)
        if ratio is not None and not (ratio.free_symbols & set(self.inputs)) and ratio != 0 and ratio.is_finite:
            return ratio
        return None

    def is_margin(self, expr: sp.Expr, x: sp.Symbol, t: sp.Symbol) -> bool:
        if self.ranges[t] != sp.FiniteSet(-1, 1):
            return False
        a = expr.xreplace({t: -1})
        b = expr.xreplace({t: 1}).xreplace({x: -x})
        return sp.expand(a - b) == 0 or attempt(lambda: sp.simplify(a - b) == 0, 2.0, default=False)

    def views(self, name: str, expr: sp.Expr | None = None, *, numeric_params: bool = False,
              enumerate_params: bool = True, wrt_expr: sp.Expr | None = None) -> list[View]:
        """One view per case of the expression (default: the loss) in input ``name``.

        ``wrt_expr`` decides shifts and margins (default: ``expr``); with
        ``numeric_params`` every parameter takes its given/default value; without
        ``enumerate_params`` a discrete parameter takes its given/default value.
        """
        expr = self.loss if expr is None else expr
        probe = expr if wrt_expr is None else wrt_expr
        x = self.by_name[name]
        xset = self.ranges[x]
        subs: dict = {}
        kind, label = "plain", name
        others = [s for s in self.inputs if s != x and s in probe.free_symbols]
        discrete, shifts = [], []
        for y in others:
            ys = self.ranges[y]
            if isinstance(ys, sp.FiniteSet):
                if kind == "plain" and self.is_margin(probe, x, y):
                    subs[y], kind, label = sp.S.One, "margin", f"{y.name}*{name}"
                else:
                    discrete.append(y)
            elif xset == sp.Reals:
                k = self.shift_factor(probe, x, y)
                if k is not None:
                    subs[y] = representative(ys)
                    shifts.append((y, k))
        if kind == "plain" and len(others) == 1 and len(shifts) == 1 and subs[others[0]] == 0:
            y, k = shifts[0]
            kind = "location"
            label = f"{name} - {y.name}" if k == -1 else f"{name} + {y.name}" if k == 1 else name
        for p in self.params:
            ps = self.ranges[p]
            if numeric_params or (isinstance(ps, sp.FiniteSet) and not enumerate_params):
                subs[p] = sp.nsimplify(self.values[p], rational=True)
            elif isinstance(ps, sp.FiniteSet) and len(ps) == 1:
                subs[p] = next(iter(ps))
            elif isinstance(ps, sp.FiniteSet):
                discrete.append(p)
        combos = list(itertools.product(*[sorted(self.ranges[d].args) for d in discrete]))[:MAX_CASES]
        out = []
        for combo in combos or [()]:
            s = dict(subs)
            s.update(dict(zip(discrete, combo)))
            notes = [f"{y.name} = {subs[y]}" for y, _ in shifts] if kind != "location" else []
            case = ", ".join(notes + [f"{d.name} = {v}" for d, v in zip(discrete, combo)])
            e = expr.xreplace(s)
            ctx = tuple(sorted((e.free_symbols - {x}), key=lambda v: v.name))
            out.append(View(name, x, label, xset, s, case, kind, ctx))
        return out

    def box(self, symbols) -> dict:
        """Numeric hull (lo, hi) of each symbol's range."""
        return {s: set_hull(self.ranges[s]) for s in symbols}
