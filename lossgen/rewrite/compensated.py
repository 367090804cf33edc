r"""Compensated forms: an expression evaluated in double-double arithmetic.

Some quantities cannot be computed to a few ulps in float64 in any algebraic form:
near a root of a factor (Cauchy's second derivative (1 - a^2)/(1 + a^2)^2 at a = 1,
Tukey's gradient as |r| -> c), where an ill-conditioned function amplifies the rounding
of its argument (e^{-u} with u = (r/c)^2 = 8 loses log2(8) bits to the rounding of u;
DPO's softplus(-beta*h) at beta*h = 100, with h a sum of four log-probabilities), or
where a residual pred - target is itself rounded.  ``Compensated(e)`` marks a form
whose kernel evaluates ``e`` on pairs (hi, lo) that carry about 106 bits:

* sums, products, quotients and square roots by Dekker's and Knuth's error-free
  transformations, exp and log (so log1p, expm1 and powers) by double-double
  algorithms (``lossgen.runtime.scalar.dd_*``);
* any other function g by its first-order expansion g(hi + lo) = g(hi) + g'(hi) lo,
  with g' from SymPy, so the argument's rounding no longer matters (only g's own);
  in an *expanded* form (:class:`ExpandedCompensated`) also sigmoid, softplus and
  log_sigmoid are computed from double-double exp and log, so that not even their own
  rounding is left (five to ten times the cost again, so a separate candidate);
* Piecewise/Max/Min/Abs/sign/Heaviside by comparing the high parts;

and rounds once at the end.  The form is a :class:`Program`, a straight-line list of
steps: the code generator prints it, and :func:`evaluate` runs it on NumPy arrays to
measure it like any other candidate.  It costs roughly ten times the operations, so
the lowering uses it only where it is measurably more accurate.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import math

import numpy as np
import sympy as sp

from ..primitives import expm1, log1p
from ..primitives.functions import log_sigmoid, mul_sigmoid, sigmoid, softplus
from ..runtime import scalar
from ..runtime.scalar import MUL_SIGMOID_SWITCH
from ..verify.floats import float_function
from .error_bound import split_exp


#: A guarded compensated sum is computed in plain doubles when its terms cancel by at
#: most this factor (sum of |terms| <= GUARD_RATIO * |sum|), in double-double otherwise.
GUARD_RATIO = 2.0
#: Wider guards a sum may get where :mod:`.error_bound` proves its plain evaluation
#: within budget at that ratio (e^x - t, computed with e^x's low part: 128)
WIDER_GUARD_RATIOS = (4.0, 8.0, 16.0, 32.0, 64.0, 128.0)

#: An expanded form computes sigmoid, softplus and log_sigmoid from double-double exp
#: and log for |x| below this, as g(hi) + g'(hi) lo beyond (where they are e^x, x, 0 or
#: 1 to within their own rounding)
EXPANDED_PRIMITIVE_RANGE = 700
#: the primitives an expanded form computes from double-double exp and log
EXPANDABLE = (sigmoid, softplus, log_sigmoid)


class Compensated(sp.Function):
    """Marker: the kernel evaluates the argument in double-double arithmetic.

    ``Compensated(e, GUARD_RATIO)`` (a *guarded* form, ``e`` a sum) evaluates the terms
    of ``e`` in plain doubles first and keeps their sum where it does not cancel
    (sum |t_i| <= GUARD_RATIO |sum t_i|, and no term overflows); only the other elements
    run the double-double
    program, so the cost is the plain form's wherever no cancellation happens.  Like any
    candidate, a guarded form is kept only if it measures within budget.

    ``Compensated(e, ratio, ratio32)`` also carries the guard of a *float32* result: a
    float32 kernel computes in doubles and rounds once, so its budget (4 float32 ulps)
    admits 2^29 times the error of a double's, and where :mod:`.error_bound` proves the
    plain sum within it up to a cancellation of ``ratio32``, the float32 kernels keep the
    plain sum up to that ratio (the point functions take ``_float32``)."""

    nargs = (1, 2, 3)
    #: whether sigmoid, softplus and log_sigmoid are expanded into double-double exp/log
    expanded = False

    @property
    def guard(self) -> float | None:
        """The guard's cancellation ratio, or None (always double-double)."""
        return float(self.args[1]) if len(self.args) >= 2 else None

    @property
    def guard32(self) -> float | None:
        """The guard's ratio where the result is rounded to float32, or None (as ``guard``)."""
        return float(self.args[2]) if len(self.args) == 3 else None

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer):
        return printer._print(self.args[0])

    def _sympystr(self, printer):
        guard = "" if self.guard is None else f", guarded at {self.guard:g}"
        guard += "" if self.guard32 is None else f" (float32 at 2^{math.log2(self.guard32):g})"
        expanded = ", sigmoids expanded" if self.expanded else ""
        return f"Compensated({printer._print(self.args[0])}{guard}{expanded})"


class ExpandedCompensated(Compensated):
    """Marker: as :class:`Compensated`, with sigmoid, softplus and log_sigmoid computed
    from double-double exp and log too (for |x| < EXPANDED_PRIMITIVE_RANGE).

    g(hi) + g'(hi) lo keeps g's own last-bit rounding, which a sum that cancels after it
    amplifies (focal's Hessian at logit -3.96, target 0.65: 27 ulp); expanded, the
    rounding is ~2^-100.  It costs five to ten times a plain compensated sigmoid, so the
    lowering tries it only where the compensated forms are over budget."""

    expanded = True


def placeholders(n: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"_x{k}", real=True) for k in range(n))


@dataclass(frozen=True)
class Step:
    """One step: ``out = op(args)``.

    ops: "load" (data: the symbol), "const" (data: (hi, lo)), "add", "mul", "div",
    "sqrt", "exp", "log" (args: value indices; exp and log to about 2^-100 by
    ``dd_exp``/``dd_log``), "apply" (data: (g, partials) in :func:`placeholders`),
    "select" (data: the conditions, args: one value per branch, the last the default).
    """

    op: str
    args: tuple[int, ...] = ()
    data: object = None


@dataclass(frozen=True)
class Program:
    steps: tuple[Step, ...]
    result: int


class _Unsupported(Exception):
    pass


class _Builder:
    def __init__(self, expand: bool = False):
        self.steps: list[Step] = []
        self.memo: dict = {}
        self.walked: dict = {}  # expression -> value index (a subexpression recurs often)
        self.expand = expand

    def emit(self, step: Step) -> int:
        key = (step.op, step.args, step.data if step.op != "apply" else (step.data[0], step.args))
        if key in self.memo:
            return self.memo[key]
        self.steps.append(step)
        self.memo[key] = len(self.steps) - 1
        return len(self.steps) - 1

    def const(self, value) -> int:
        """A constant as a pair: hi its nearest double, lo the rest (0 for a double)."""
        exact = sp.Float(value, 60) if isinstance(value, sp.Float) else sp.N(value, 60)
        hi = float(exact)
        lo = float(exact - sp.Float(hi, 60))
        return self.emit(Step("const", (), (hi, lo)))

    def fold(self, op: str, parts) -> int:
        idx = [self.walk(p) for p in parts]
        out = idx[0]
        for k in idx[1:]:
            out = self.emit(Step(op, (out, k)))
        return out

    def product(self, factors) -> int:
        """Factors multiplied in order; a factor b**-1 after the first divides (a/b,
        not a*(1/b): 1/b overflows for a subnormal b where a/b need not), and a power
        a**n (n >= 2) with a power b**-m is computed as (a/b)**min(n, m) times what
        remains (r**2/v at r = 1e159, v = 1e10 is representable, r**2 is not)."""
        rest, quotients = list(factors), []
        for f in list(rest):
            if not (f.is_Pow and f.exp.is_Integer and f.exp > 1 and f in rest):
                continue
            g = next((g for g in rest if g.is_Pow and g.exp.is_Integer and g.exp < 0), None)
            if g is None:
                continue
            n, m = int(f.exp), -int(g.exp)
            k = min(n, m)
            quotients.append((f.base, g.base, k))
            rest = [h for h in rest if h is not f and h is not g]
            rest += [h for h in (f.base ** (n - k), g.base ** (k - m)) if h != 1]
        out = None
        for x, y, k in quotients:
            q = self.power(self.emit(Step("div", (self.walk(x), self.walk(y)))), k)
            out = q if out is None else self.emit(Step("mul", (out, q)))
        for f in rest:
            if out is not None and f.is_Pow and f.exp == -1:
                out = self.emit(Step("div", (out, self.walk(f.base))))
                continue
            k = self.walk(f)
            out = k if out is None else self.emit(Step("mul", (out, k)))
        return out

    def power(self, base: int, n: int) -> int:
        result, square = None, base
        while n:
            if n & 1:
                result = square if result is None else self.emit(Step("mul", (result, square)))
            n >>= 1
            if n:
                square = self.emit(Step("mul", (square, square)))
        return result

    def apply(self, g: sp.Expr, args) -> int:
        idx = tuple(self.walk(a) for a in args)
        return self.emit(Step("apply", idx, (g, _partials(g, len(args)))))

    def walk(self, e: sp.Expr) -> int:
        if e not in self.walked:
            self.walked[e] = self._walk(e)
        return self.walked[e]

    def _walk(self, e: sp.Expr) -> int:
        if e.is_Symbol:
            return self.emit(Step("load", (), e))
        if e.is_number and not e.free_symbols:
            if not e.is_finite or not e.is_real:
                raise _Unsupported(e)
            return self.const(e)
        if e.is_Add:
            return self.fold("add", e.args)
        if e.is_Mul:
            return self.product(_interleaved(_integer_offsets_split(e.args)))
        if e.is_Pow:
            base, ex = e.as_base_exp()
            if ex.is_Integer and 0 < abs(int(ex)) <= 16:
                b = self.walk(base)
                if ex < 0:  # (1/b)**n: underflows gradually where b**n would overflow
                    b = self.emit(Step("div", (self.const(sp.S.One), b)))
                return self.power(b, abs(int(ex)))
            if ex == sp.S.Half:
                return self.emit(Step("sqrt", (self.walk(base),)))
            if ex == -sp.S.Half:
                return self.emit(Step("div", (self.const(sp.S.One), self.emit(Step("sqrt", (self.walk(base),))))))
            # b**e = exp(e log b), both in double-double
            log_b = self.emit(Step("log", (self.walk(base),)))
            return self.emit(Step("exp", (self.emit(Step("mul", (self.walk(ex), log_b))),)))
        if isinstance(e, sp.exp):
            return self.emit(Step("exp", (self.walk(e.args[0]),)))
        if isinstance(e, sp.log) and len(e.args) == 1:
            return self.emit(Step("log", (self.walk(e.args[0]),)))
        if isinstance(e, log1p):
            return self.emit(Step("log", (self.emit(Step("add", (self.const(sp.S.One), self.walk(e.args[0])))),)))
        if isinstance(e, expm1):
            return self.emit(Step("add", (self.emit(Step("exp", (self.walk(e.args[0]),))), self.const(-sp.S.One))))
        if isinstance(e, (sp.Max, sp.Min)):
            a = e.args[0]
            for b in e.args[1:]:
                cond = (a >= b) if isinstance(e, sp.Max) else (a <= b)
                a = sp.Piecewise((a, cond), (b, True))
            return self.walk(a)
        if isinstance(e, sp.Piecewise):
            conds = tuple(c for _, c in e.args)
            if conds[-1] is not sp.true:
                raise _Unsupported(e)
            values = tuple(self.walk(v) for v, _ in e.args)
            return self.emit(Step("select", values, conds[:-1]))
        if self.expand and isinstance(e, EXPANDABLE):
            return self.expanded(e)
        if isinstance(e, mul_sigmoid):
            # a double-double product where sigmoid(x) is normal; the scaled primitive
            # (g(hi) + g'(hi) lo) only where it is not, as the plain kernel switches
            a, x = e.args
            plain = self.walk(a * sigmoid(x))
            return self.emit(Step("select", (plain, self.function(e)), (x > MUL_SIGMOID_SWITCH,)))
        if isinstance(e, sp.Function) and e.args:
            return self.function(e)
        raise _Unsupported(e)

    def expanded(self, e):
        """sigmoid, softplus, log_sigmoid from double-double exp and log, through the one
        exponential that does not overflow, E = e^{-|x|}: sigmoid(x) = 1/(1 + E) (x >= 0),
        E/(1 + E) (x < 0); softplus(x) = x + log1p(E) (x >= 0), log1p(E) (x < 0);
        log_sigmoid(x) = -softplus(-x).  sigmoid(x), sigmoid(-x), softplus(+-x) then
        share E, 1 + E and the quotients (one dd_exp for all of them).  For
        |x| >= EXPANDED_PRIMITIVE_RANGE (and an infinite x, where a double-double sum
        gives inf + NaN) g(hi) + g'(hi) lo."""
        x = e.args[0]
        if isinstance(e, log_sigmoid):
            return self.walk(-softplus(-x))
        E = sp.exp(-sp.Abs(x))
        if isinstance(e, sigmoid):
            form = sp.Piecewise((1 / (1 + E), x >= 0), (E / (1 + E), True))
        else:
            form = sp.Piecewise((x + log1p(E), x >= 0), (log1p(E), True))
        return self.emit(Step("select", (self.walk(form), self.function(e)),
                              (sp.Abs(x) < EXPANDED_PRIMITIVE_RANGE,)))

    def function(self, e):
        """Any other function g: g(hi) + g'(hi) lo."""
        # constant arguments (Heaviside's value at 0) stay as they are
        live = [a for a in e.args if a.free_symbols]
        xs = iter(placeholders(len(live)))
        g = e.func(*[next(xs) if a.free_symbols else a for a in e.args])
        if g.has(sp.Derivative) or any(d.has(sp.Derivative) for d in _partials(g, len(live))):
            raise _Unsupported(e)
        return self.apply(g, live)


@functools.lru_cache(maxsize=None)
def _partials(g: sp.Expr, n: int) -> tuple[sp.Expr, ...]:
    """dg/dx_k for the first ``n`` placeholders (g is a function of placeholders only,
    so the same few recur across programs)."""
    return tuple(sp.diff(g, x) for x in placeholders(n))


def _integer_offsets_split(factors) -> list:
    """Each factor b**(e - k) (e symbolic, k a positive integer) as b**-k, b**e, the
    others as they are: the integer part then divides the factor before it
    (target * pred**(-p - 1) at target = 0, pred = 1e-176 is 0 as (target/pred) * pred**-p,
    NaN as 0 * inf)."""
    out = []
    for f in factors:
        if f.is_Pow and f.base.free_symbols and not f.exp.is_number:
            k, e = f.exp.as_coeff_Add()
            if k.is_Integer and k < 0 and e.free_symbols:
                out += [sp.Pow(f.base, k), sp.Pow(f.base, e)]
                continue
        out.append(f)
    return out


def _interleaved(factors) -> list:
    """A product's factors in evaluation order: constants of magnitude at most 1, then
    numerator (compound factors before bare symbols) and denominator factors
    alternately, then the larger constants, so that
    partial products stay near the size of the result (-2 * (1/x) * x**-p * (sum ~ x)
    at x = 1e160 would underflow to 0 if the two small factors came first, and
    2*target/pred**3 at target = 2**1023, pred = 2 would overflow in 2*target)."""
    consts = [f for f in factors if not f.free_symbols]
    den = [f for f in factors if f.free_symbols and f.is_Pow and f.exp.could_extract_minus_sign()]
    num = [f for f in factors if f.free_symbols and f not in den]
    # bare symbols (parameters, mostly) after the compound factors: gamma*ce*dL at a
    # saturated focal logit is 0 as ce*dL = huge*0 = 0, and NaN as (gamma*ce)*dL = inf*0
    num = [f for f in num if not f.is_Symbol] + [f for f in num if f.is_Symbol]
    order = [c for c in consts if abs(c) <= 1]
    for k in range(max(len(num), len(den))):
        order += num[k:k + 1] + den[k:k + 1]
    return order + [c for c in consts if abs(c) > 1]


def expanded(node: Compensated) -> ExpandedCompensated:
    """The same compensated form with its sigmoids expanded."""
    return ExpandedCompensated(*node.args)


def guarded(expr: sp.Expr, ratio: float = GUARD_RATIO, ratio32: float | None = None) -> Compensated | None:
    """The guarded compensated form of ``expr`` (None unless ``expr`` is a sum), with a
    float32 guard ``ratio32`` if given."""
    if not isinstance(expr, sp.Add):
        return None
    return Compensated(expr, sp.Float(ratio), *(() if ratio32 is None else (sp.Float(ratio32),)))


def evaluate_marked(node: Compensated, args: tuple[sp.Symbol, ...], arrays) -> np.ndarray:
    """A compensated candidate's values on float64 arrays: the program's, or for a
    guarded one the plain sum where its terms neither cancel nor overflow, as the kernel
    computes."""
    exact = evaluate(marked_program(node), args, arrays)
    if node.guard is None:
        return exact
    n = len(arrays[0])
    with np.errstate(all="ignore"):
        terms = [np.broadcast_to(np.asarray(float_function(t, args)(*arrays), dtype=np.float64), (n,))
                 for t in node.args[0].args]
        lo = 0.0
        k = split_exp(node.args[0].args)
        if k is not None:
            # the kernels' split e^x: (hi + t) + lo, from the runtime's exp_hilo itself
            x = np.broadcast_to(np.asarray(float_function(node.args[0].args[k].args[0], args)(*arrays),
                                           dtype=np.float64), (n,))
            terms[k], lo = _exp_hilo_arrays(np.ascontiguousarray(x))
        total, size = terms[0], np.abs(terms[0])
        for t in terms[1:]:
            total, size = total + t, size + np.abs(t)
        plain = (size <= node.guard * np.abs(total)) & (size < np.inf)
    return np.where(plain, total + lo, exact)


def _exp_hilo_arrays(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """runtime.vecmath.exp_hilo elementwise: (hi, lo) arrays."""
    global _EXP_HILO_LOOP
    if _EXP_HILO_LOOP is None:
        import numba

        from ..runtime.vecmath import exp_hilo

        @numba.njit(error_model="numpy")
        def loop(v):
            hi, lo = np.empty_like(v), np.empty_like(v)
            for i in range(v.shape[0]):
                hi[i], lo[i] = exp_hilo(v[i])
            return hi, lo
        _EXP_HILO_LOOP = loop
    return _EXP_HILO_LOOP(x)


_EXP_HILO_LOOP = None


def marked_program(node: Compensated) -> Program | None:
    """The double-double program a compensated form's kernel runs."""
    return program(node.args[0], expand=node.expanded)


@functools.lru_cache(maxsize=512)
def program(expr: sp.Expr, expand: bool = False) -> Program | None:
    """The double-double program of ``expr`` (sigmoids expanded if ``expand``), or None
    where a node is not supported."""
    b = _Builder(expand)
    try:
        result = b.walk(expr)
    except _Unsupported:
        return None
    return Program(tuple(b.steps), result)


# ---- vectorised evaluation (to measure a compensated candidate) -------------------

def _two_sum(a, b):
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, np.where(np.isfinite(s), e, 0.0)


def _two_prod(a, b):
    p = a * b
    ok = (np.abs(p) <= 1e300) & (np.abs(a) <= 1e300) & (np.abs(b) <= 1e300) & (p != 0)
    t = 134217729.0 * a
    ah = t - (t - a)
    al = a - ah
    t = 134217729.0 * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, np.where(ok, e, 0.0)


def _dd_div(ah, al, bh, bl):
    q = ah / bh
    p, e = _two_prod(q, bh)
    r = ((ah - p) - e + al - q * bl) / bh
    ok = np.isfinite(q) & (q != 0) & np.isfinite(p)
    s, t = _two_sum(q, np.where(ok, r, 0.0))
    return np.where(ok, s, q), np.where(ok, t, 0.0)


def _dd_sqrt(ah, al):
    s = np.sqrt(ah)
    p, e = _two_prod(s, s)
    ok = np.isfinite(s) & (s != 0)
    u, v = _two_sum(s, np.where(ok, ((ah - p) - e + al) / (2.0 * s), 0.0))
    return np.where(ok, u, s), np.where(ok, v, 0.0)


def evaluate(prog: Program, args: tuple[sp.Symbol, ...], arrays) -> np.ndarray:
    """Run ``prog`` on float64 arrays (one per symbol of ``args``); returns hi + lo."""
    n = len(arrays[0])
    env = {s: np.asarray(a, dtype=np.float64) for s, a in zip(args, arrays)}
    vals: list[tuple[np.ndarray, np.ndarray]] = []
    zero = np.zeros(n)
    with np.errstate(all="ignore"):
        for st in prog.steps:
            if st.op == "load":
                v = (np.broadcast_to(env[st.data], (n,)), zero)
            elif st.op == "const":
                v = (np.full(n, st.data[0]), np.full(n, st.data[1]))
            elif st.op == "add":
                (ah, al), (bh, bl) = vals[st.args[0]], vals[st.args[1]]
                s, e = _two_sum(ah, bh)
                v = _two_sum(s, e + al + bl)
            elif st.op == "mul":
                (ah, al), (bh, bl) = vals[st.args[0]], vals[st.args[1]]
                p, e = _two_prod(ah, bh)
                v = _two_sum(p, np.where(np.isfinite(p), e + ah * bl + al * bh, 0.0))
            elif st.op == "div":
                v = _dd_div(*vals[st.args[0]], *vals[st.args[1]])
            elif st.op == "sqrt":
                v = _dd_sqrt(*vals[st.args[0]])
            elif st.op in ("exp", "log"):
                f = scalar.dd_exp if st.op == "exp" else scalar.dd_log
                ah, al = vals[st.args[0]]
                pairs = [f(float(h), float(lo)) for h, lo in zip(ah, al)]
                v = (np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
            elif st.op == "apply":
                g, partials = st.data
                xs = placeholders(len(st.args))
                his = [vals[k][0] for k in st.args]
                f = float_function(g, xs)(*his)
                lo = zero
                for d, k in zip(partials, st.args):
                    lo = lo + float_function(d, xs)(*his) * vals[k][1]
                ok = np.isfinite(f) & (lo != 0)
                s, t = _two_sum(f, np.where(ok, lo, 0.0))
                v = (np.where(ok, s, f), np.where(ok, t, 0.0))
            elif st.op == "select":
                conds = [np.asarray(float_function(sp.Piecewise((1, c), (0, True)), args)(*arrays)) > 0.5
                         for c in st.data]
                hs = [vals[k][0] for k in st.args]
                ls = [vals[k][1] for k in st.args]
                v = (np.select(conds, hs[:-1], hs[-1]), np.select(conds, ls[:-1], ls[-1]))
            else:  # pragma: no cover - the builder emits only the ops above
                raise ValueError(st.op)
            vals.append(v)
        h, lo = vals[prog.result]
        return h + lo
