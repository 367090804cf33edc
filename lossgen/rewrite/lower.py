r"""Lowering: pick, for every expression a kernel computes, the most accurate of a few
equivalent forms, and verify a spec's own ``numeric`` form.

For the loss and each derivative the candidates are the expression as written or
derived, the rule table applied (:mod:`.rules`), the expression factored, and, if small,
simplified, products distributed over sums (:func:`distributed`: one product per term,
so a ratio such as r^2/v^2 is one term the compensated printer pairs as (r/v)^2); when
the spec gives a ``numeric`` form, also that form and its derivatives.
Every candidate is an identity of the mathematics, so the choice affects accuracy
only.  Each candidate is evaluated in float64 (:mod:`lossgen.verify.floats`) on a
deterministic probe grid (random points of each input's domain, magnitudes from 1e-12
to 1e300, kink neighbours, and the accuracy certificate's own adversarial grid) and
compared with the truth from mpmath at 50 digits:

    typical error = |float - truth| / ulp(max(|truth|, median |truth|))
    relative error = |float - truth| / ulp(max(|truth|, smallest normal))

Candidates are ranked first by the number of probe points where they give inf or NaN
while the truth is finite, then by the sum of the power-of-two buckets (log2, rounded
up) of their worst typical and worst relative errors, so a form that cancels somewhere
loses to one that does not, while quantities that cancel in every form are ranked by
their typical error; then by the typical bucket alone, then by the number of points with a relative
error over 2 ulps, then by the number of operations.

Plain (double) forms come first, because they are several to a hundred times faster
than compensated (double-double) ones: only when the best plain form errs by more than
half of the quantity's budget (8 ulp for values and gradients, 16 for Hessians; half,
because the certificate's grid is larger than the probe grid) are its best few forms
also tried compensated, and the ranking above decides among them all.  Where even
they are over budget, forms with subnormal sigmoids scaled in the far tail are tried,
and then the best compensated forms with their sigmoids expanded into double-double
exp and log (:class:`~.compensated.ExpandedCompensated`, the costliest).  No timing
enters the choice, so the generated code is reproducible byte for byte.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp

from ..derive.derivatives import Derivatives, almost_everywhere, tidy
from ..errors import SpecError
from ..primitives.functions import mul_sigmoid, sigmoid
from ..runtime.scalar import MUL_SIGMOID_SWITCH
from ..spec.model import Spec
from ..verify.accuracy import adversarial_grid
from ..verify.floats import float_function
from ..verify.points import edge_values, large_pair_rows, near_overflow_rows, random_points, special_points
from ..verify.truth import mp_function, spec_args
from ..verify.ulps import BUDGET_HESSIAN, BUDGET_VALUE, ulp_of
from .compensated import (EXPANDABLE, WIDER_GUARD_RATIOS, Compensated, evaluate_marked, expanded, guarded,
                          program)
from .error_bound import float32_ratio, widest_ratio
from .forms import distributed
from .rules import apply_rules
from .selects import step_selects

#: Expressions up to this many operations, and with at most this many kink atoms
#: (Abs, sign, Heaviside, Piecewise, Max, Min: SymPy's simplification of conditions grows
#: fast with their number), are factored / simplified as candidates.  Deterministic
#: limits rather than a clock, so the output does not depend on the machine.
FACTOR_MAX_OPS = 120
SIMPLIFY_MAX_OPS = 80
FACTOR_MAX_KINKS = 6
SIMPLIFY_MAX_KINKS = 2
#: A quantity whose best plain form errs somewhere on the probe grid by more than this
#: share of its budget is also tried in double-double (:mod:`.compensated`), from its
#: best few plain forms (from all of them when every plain form overflows somewhere on
#: the grid); the compensated form is kept only if it is measurably more accurate.
COMPENSATE_ABOVE_SHARE = 0.5
COMPENSATE_TOP = 3
_KINK_ATOMS = (sp.Abs, sp.sign, sp.Heaviside, sp.Piecewise, sp.Max, sp.Min)
PROBE_RANDOM = 32
MAGNITUDES = (1e-12, 1e-4, 0.3, 3.0, 40.0, 800.0, 1e6, 1e20, 1e50, 1e77, 1e100, 1e104, 1e160, 1e300)
PARAM_VALUES = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)
# (saturation rows use the magnitudes from 3.0 up)
_DOUBLE_MAX = float(np.finfo(np.float64).max)


def _bucket(err: float) -> float:
    """Power-of-two bucket of an error in ulps (errors under 1 ulp share bucket 0)."""
    if not math.isfinite(err):
        return math.inf
    return math.ceil(math.log2(err)) if err > 1 else 0


@dataclass(frozen=True)
class Choice:
    """The form chosen for one expression, how it was obtained, and its measured error."""

    expr: sp.Expr
    how: str
    max_ulp: float          # worst typical error on the probe grid
    max_rel_ulp: float      # worst relative error on the probe grid
    candidates: int


@dataclass(frozen=True)
class Lowered:
    loss: Choice
    grad: tuple[Choice, ...]
    hess: tuple[tuple[Choice, ...], ...]

    def hess_diag(self) -> tuple[Choice, ...]:
        return tuple(self.hess[k][k] for k in range(len(self.grad)))


def _admissible(spec: Spec, values: dict) -> bool:
    """Whether parameter values satisfy every constraint of the spec."""
    subs = {p.symbol: sp.Float(values[p.name]) for p in spec.params}
    return all(p.constraint is None or p.constraint.xreplace(subs) is sp.true for p in spec.params)


def probe_grid(spec: Spec) -> list[np.ndarray]:
    """Deterministic probe points: one float64 array per input, then one per parameter
    (in :func:`spec_args` order).  A form is chosen for every admissible parameter value,
    not only the defaults, so rows are repeated with other admissible parameter values."""
    rng = np.random.default_rng(0)
    cols = [list(c) for c in random_points(spec, rng, PROBE_RANDOM)]
    base = [c[0] for c in cols]
    varied = list(range(min(8, PROBE_RANDOM)))  # rows repeated with other parameter values

    def add(row, vary=False):
        if vary:
            varied.append(len(cols[0]))
        for j, col in enumerate(cols):
            col.append(row[j])

    for k, inp in enumerate(spec.inputs):
        if inp.domain.values is not None:
            continue
        for m in MAGNITUDES:
            for v in (m, -m):
                if inp.domain.contains(v):
                    add([v if j == k else base[j] for j in range(len(cols))])
    # saturation: each other input at its domain edges (labels, 0, 1) while the
    # first differentiable input sweeps the magnitudes (a focal loss at logit -1000
    # with target 0 is where 1 - p_t underflows)
    diff_k = [k for k, i in enumerate(spec.inputs) if i.differentiable]
    if diff_k:
        kx = diff_k[0]
        for k, inp in enumerate(spec.inputs):
            if k == kx:
                continue
            for e in edge_values(inp.domain):
                for m in MAGNITUDES[3:]:
                    for v in (m, -m):
                        if spec.inputs[kx].domain.contains(v):
                            add([v if j == kx else e if j == k else base[j] for j in range(len(cols))],
                                vary=m in (40.0, 800.0))
    # residual-type points: a prediction close to the target (where a loss's terms
    # cancel: bce's -y/p + (1-y)/(1-p) at p ~ y)
    for k, inp in enumerate(spec.inputs):
        if inp.role != "target" or inp.domain.values is not None:
            continue
        for kp, p in enumerate(spec.inputs):
            if not p.differentiable:
                continue
            for eps in (1e-12, 1e-6, 1e-3, 2e-2):
                near = base[k] * (1 + eps)
                if p.domain.contains(near):
                    add([near if j == kp else base[j] for j in range(len(cols))])
    for row in near_overflow_rows(spec, base):
        add(row)
    for row in large_pair_rows(spec, base):
        add(row)
    pts, at_kink = special_points(spec, rng, per_kink=1)
    for j, col in enumerate(cols):
        col.extend(np.asarray(pts[j])[~at_kink] if len(pts) else [])
    # the certificate's own float64 grid, away from kinks (where its truth takes either
    # side): a form chosen here is then within budget where the certificate measures
    adv, adv_at, adv_near = adversarial_grid(spec, np.float64)
    away = ~(adv_at | adv_near)
    for j, col in enumerate(cols):
        col.extend(adv[j][away])
    defaults = {p.name: p.default for p in spec.params}
    pcols = [[p.default] * len(cols[0]) for p in spec.params]
    for ip, p in enumerate(spec.params):
        for v in PARAM_VALUES + (p.default / 2, p.default * 2):
            values = dict(defaults, **{p.name: v})
            if v == p.default or not _admissible(spec, values):
                continue
            for r in varied:
                for j, col in enumerate(cols):
                    col.append(col[r])
                for jp, q in enumerate(spec.params):
                    pcols[jp].append(values[q.name])
    return [np.array(c, dtype=np.float64) for c in cols + pcols]


class _Scorer:
    """Measures candidate forms of one quantity against its high-precision truth."""

    def __init__(self, truth_expr: sp.Expr, args, grid):
        self.args = args
        self.grid = grid
        f = mp_function(truth_expr, args)
        n = len(grid[0])
        truths = []
        for j in range(n):
            try:
                t = f(*[c[j] for c in grid])
            except (ValueError, TypeError, ZeroDivisionError, OverflowError):
                t = mpmath.nan
            truths.append(t if isinstance(t, mpmath.mpf) else mpmath.nan)
        self.truths = truths
        self.ok = np.array([mpmath.isfinite(t) and abs(t) <= _DOUBLE_MAX for t in truths])
        finite = np.array([float(t) if ok else 0.0 for t, ok in zip(truths, self.ok)])
        typical = np.abs(finite[:PROBE_RANDOM][self.ok[:PROBE_RANDOM]])
        self.floor = float(np.median(typical)) if typical.size else 0.0
        self.t64 = finite
        # the truth as hi + lo doubles, and the ulps the errors are counted in (those of
        # ulp_error: of max(|truth|, smallest normal), and of max(|truth|, floor))
        self.t_lo = np.array([float(t - mpmath.mpf(h)) if ok else 0.0
                              for t, h, ok in zip(truths, finite, self.ok)])
        self.ulp_rel = ulp_of(np.abs(finite))
        # below 2^-968 the low part is subnormal (rounded): mpmath measures there
        self.tiny = self.ok & (np.abs(finite) < 2.0 ** -968)
        self.ulp_typ = ulp_of(np.maximum(np.abs(finite), self.floor))

    def error(self, expr: sp.Expr) -> tuple[int, float, float, int]:
        """(non-finite outputs where the truth is finite, worst typical error, worst
        relative error in ulps over the other points, number of points whose relative
        error exceeds 2 ulps)."""
        if isinstance(expr, Compensated):
            values = evaluate_marked(expr, self.args, self.grid)
        else:
            values = float_function(expr, self.args)(*self.grid)
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), self.t64.shape)
        finite = self.ok & np.isfinite(values)
        nonfinite = int(np.count_nonzero(self.ok) - np.count_nonzero(finite))
        with np.errstate(over="ignore", invalid="ignore"):
            diff = np.abs((values - self.t64) - self.t_lo)
            rel, typ = diff / self.ulp_rel, diff / self.ulp_typ
        # |value - truth| from the pair is exact to a relative 2^-52 (value - hi is exact
        # near the truth); where value - hi overflows or the truth is tiny, mpmath measures
        for j in np.flatnonzero(finite & (self.tiny | ~np.isfinite(diff))):
            d = abs(mpmath.mpf(float(values[j])) - self.truths[j])
            rel[j], typ[j] = float(d / self.ulp_rel[j]), float(d / self.ulp_typ[j])
        if not finite.any():
            return nonfinite, 0.0, 0.0, 0
        rel, typ = rel[finite], typ[finite]
        typical = float(np.max(typ))
        return nonfinite, typical, float(np.max(rel)), int(np.count_nonzero(rel > 2.0))


def _variants(expr: sp.Expr, named: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()) -> list[tuple[str, sp.Expr]]:
    """Equivalent forms of ``expr``.  Factoring and simplifying happen with the spec's
    named subexpressions held as symbols (so ``r = pred - target`` is never expanded
    into ``pred**2 - 2*pred*target + target**2``), then substituted back."""
    out = [("as written", expr), ("rules", apply_rules(expr))]
    abstract = _abstract(expr, named)
    ops = sp.count_ops(abstract)
    kinks = sum(1 for node in sp.preorder_traversal(abstract) if isinstance(node, _KINK_ATOMS))

    def concrete(e):
        for sym, full in named:
            e = e.xreplace({sym: full})
        return e
    if ops <= FACTOR_MAX_OPS and kinks <= FACTOR_MAX_KINKS:
        f = concrete(_piecewise_map(sp.factor, abstract))
        out += [("factored", f), ("factored+rules", apply_rules(f))]
    if ops <= SIMPLIFY_MAX_OPS and kinks <= SIMPLIFY_MAX_KINKS:
        s = concrete(_piecewise_map(sp.simplify, abstract))
        out += [("simplified", s), ("simplified+rules", apply_rules(s))]
    d = concrete(_piecewise_map(distributed, abstract))
    if d != expr:
        out += [("distributed", d), ("distributed+rules", apply_rules(d))]
    return out


def scaled_sigmoids(expr: sp.Expr) -> sp.Expr:
    r"""Every product with sigmoid factors written as nested :class:`mul_sigmoid`:
    :math:`c\,\sigma(u)\,\sigma(w) \to \mathrm{mul\_sigmoid}(\mathrm{mul\_sigmoid}(c, u), w)`,
    so that a sigmoid that is subnormal (:math:`\sigma(-745) = e^{-745}`) multiplies the
    rest of its product last, scaled, instead of entering it as a factor rounded to the
    smallest subnormal (focal's Hessian at logit 745 is ~170 e^{-745})."""
    def scale(node):
        if not isinstance(node, sp.Mul):
            return node
        rest, sigs = [], []
        for f in node.args:
            b, e = f.as_base_exp()
            if isinstance(b, sigmoid) and e.is_Integer and 0 < int(e) <= 4:
                sigs += [b.args[0]] * int(e)
            else:
                rest.append(f)
        if not sigs:
            return node
        out = sp.Mul(*rest)
        for u in sigs:
            out = mul_sigmoid(out, u)
        return out
    return expr.replace(lambda e: isinstance(e, sp.Mul), scale)


def tail_scaled(plain: sp.Expr, cand: sp.Expr) -> sp.Expr | None:
    r"""``plain`` where every argument :math:`x_i` of the :class:`mul_sigmoid` factors of
    :func:`scaled_sigmoids` (``cand``) exceeds the switch, and the scaled ``cand`` only
    below it: :math:`\mathrm{plain}` if :math:`\min_i x_i > -700` (every sigmoid
    normal), else ``cand`` scaled.

    Distributing and scaling a product of sigmoids keeps a subnormal sigmoid from
    entering the product before its last factor (focal's Hessian at logit 745 is
    ~170 e^{-745}), but that form, or ``plain`` itself, may cancel at moderate logits;
    the selection keeps the tail's accuracy without changing the form anywhere else.
    None where scaling changes nothing."""
    scaled = scaled_sigmoids(cand)
    xs = sorted({m.args[1] for m in scaled.atoms(mul_sigmoid)}, key=sp.default_sort_key)
    if scaled == cand or not xs:
        return None
    normal = sp.And(*[x > MUL_SIGMOID_SWITCH for x in xs])
    return sp.Piecewise((plain, normal), (scaled, True))


def _abstract(expr: sp.Expr, named: tuple[tuple[sp.Symbol, sp.Expr], ...]) -> sp.Expr:
    """Replace each named subexpression (latest first) by its symbol."""
    for sym, full in reversed(named):
        expr = expr.subs(full, sym)
    return expr


def _piecewise_map(fn, expr: sp.Expr) -> sp.Expr:
    """Apply ``fn`` to each branch of a top-level Piecewise (conditions untouched)."""
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*[(fn(v), c) for v, c in expr.args])
    return fn(expr)


def _worst(scored_entry) -> float:
    """The worse of a scored candidate's typical and relative errors."""
    return max(scored_entry[4], scored_entry[5])


def _prefer_guarded(scored: list, score, budget: float) -> None:
    """Put the guarded twin of the best form first when the best is an unguarded
    compensated form (plain or expanded) and the twin serves as well: no more non-finite
    outputs, and within half the budget or no worse at its worst.  It runs the
    double-double code only where the plain sum cancels."""
    best = scored[0]
    form = best[2]
    if not isinstance(form, Compensated) or form.guard is not None or guarded(form.args[0]) is None:
        return
    twin_form = type(form)(*guarded(form.args[0]).args)
    if not any(t[2] == twin_form for t in scored):
        score(twin_form, f"{best[3]}, where it cancels")
        scored.sort(key=lambda s: s[:2])
    twin = next(t for t in scored if t[2] == twin_form)
    if twin[6] <= best[6] and _worst(twin) <= max(COMPENSATE_ABOVE_SHARE * budget, _worst(best)):
        scored.remove(twin)
        scored.insert(0, twin)


def _widen_guard(scored: list, score, budget: float) -> None:
    """Where the best form is a guarded sum whose plain evaluation :mod:`.error_bound`
    proves within ``budget`` at a wider ratio, put that form first (it runs the
    double-double code on fewer elements); it is measured like any candidate and kept
    only if the probe grid agrees (within budget, no more non-finite outputs)."""
    best = scored[0]
    form = best[2]
    if not isinstance(form, Compensated) or form.guard is None:
        return
    ratio = widest_ratio(form.args[0].args, [r for r in WIDER_GUARD_RATIOS if r > form.guard], budget)
    if ratio is None:
        return
    score(type(form)(*guarded(form.args[0], ratio).args), f"{best[3]}, plain up to a {ratio:g}-fold cancellation")
    wider = scored[-1]
    if wider[6] <= best[6] and _worst(wider) <= budget:
        scored.remove(wider)
        scored.insert(0, wider)


def _add_float32_guard(scored: list) -> None:
    """Where the best form is a guarded sum, give it the wider guard of float32 results
    that :func:`.error_bound.float32_ratio` proves (the float32 kernels compute in
    doubles, with 2^29 times a double's budget: e^x - t and bce_with_logits' gradient
    run their double-double code only beyond a 2^20-fold cancellation there).  The
    double kernels are unchanged; the float32 certificate measures the result."""
    best = scored[0]
    form = best[2]
    if not isinstance(form, Compensated) or form.guard is None:
        return
    ratio32 = float32_ratio(form.args[0].args, form.guard)
    if ratio32 is not None:
        scored[0] = best[:2] + (type(form)(*guarded(form.args[0], form.guard, ratio32).args),) + best[3:]


def choose(scorer: _Scorer, bases: list[tuple[str, sp.Expr]],
           named: tuple[tuple[sp.Symbol, sp.Expr], ...] = (), budget: float = BUDGET_VALUE) -> Choice:
    """The best form of one quantity (ranked as the module docstring says), compensated
    only if no plain form is within ``COMPENSATE_ABOVE_SHARE * budget`` ulps."""
    seen: list[sp.Expr] = []
    scored = []

    def score(cand, label):
        nonfinite, err, rel, poor = scorer.error(cand)
        key = (nonfinite, _bucket(err) + _bucket(rel), _bucket(err), poor, sp.count_ops(cand))
        scored.append((key, len(scored), cand, label, err, rel, nonfinite))

    for prefix, base in bases:
        for how, cand in _variants(almost_everywhere(base), named):
            cand = step_selects(cand)
            if any(cand == s for s in seen):
                continue
            seen.append(cand)
            score(cand, f"{prefix}, {how}" if prefix else how)
    scored.sort(key=lambda s: s[:2])
    best_plain = scored[0]
    if best_plain[6] or _worst(best_plain) > COMPENSATE_ABOVE_SHARE * budget:
        # no plain form is accurate enough: try the best few in double-double; the
        # ranking keeps one only if it measures more accurate than every plain form
        # (all of them where every plain form overflows somewhere: which one's
        # partial products stay in range compensated is not told by its plain errors)
        top = len(scored) if best_plain[6] else COMPENSATE_TOP
        for _, _, cand, label, *_ in list(scored[:top]):
            if program(cand) is not None:
                seen.append(cand)
                score(Compensated(cand), f"{label}, compensated")
                if guarded(cand) is not None:
                    score(guarded(cand), f"{label}, compensated where it cancels")
        scored.sort(key=lambda s: s[:2])
        _prefer_guarded(scored, score, budget)
        if _worst(scored[0]) > budget:
            # still over budget: each of the best few forms where every sigmoid is
            # normal, a candidate with its sigmoids scaled in the far tail (the best
            # form's error may be the tail's alone, or a moderate point's that another
            # form has not)
            plain = [s for s in scored if not isinstance(s[2], Compensated)][:top]
            inners = []
            for entry in scored:
                inner = entry[2].args[0] if isinstance(entry[2], Compensated) else entry[2]
                if not any(inner == i for i, _ in inners):
                    inners.append((inner, entry[3]))
            for inner, inner_label in inners[:COMPENSATE_TOP]:
                for _, _, cand, label, *_ in plain:
                    form = tail_scaled(inner, cand)
                    if form is not None and program(form) is not None:
                        seen.append(form)
                        score(Compensated(form), f"{inner_label}; in the far tail {label}, "
                                                 "sigmoids scaled, compensated")
            scored.sort(key=lambda s: s[:2])
        if _worst(scored[0]) > budget:
            # still over budget: the best few compensated forms with their sigmoids in
            # double-double too (what remains may be the sigmoids' own rounding,
            # amplified by a sum that cancels after them)
            marked = [s for s in scored if isinstance(s[2], Compensated)][:COMPENSATE_TOP]
            for _, _, cand, label, *_ in marked:
                if cand.args[0].has(*EXPANDABLE):
                    score(expanded(cand), f"{label}, sigmoids expanded")
            scored.sort(key=lambda s: s[:2])
            _prefer_guarded(scored, score, budget)
        _widen_guard(scored, score, budget)
        _add_float32_guard(scored)
    _, _, expr, how, err, rel, nonfinite = scored[0]
    if nonfinite:
        err = rel = math.inf
    return Choice(expr, how, err, rel, len(seen))


def check_numeric(spec: Spec, grid) -> None:
    """Refuse a spec whose ``numeric`` form differs from its ``loss`` anywhere on the grid."""
    numeric = spec.extra.get("numeric")
    if numeric is None:
        return
    args = spec_args(spec)
    f, g = mp_function(spec.loss, args), mp_function(numeric, args)
    for j in range(len(grid[0])):
        vals = [c[j] for c in grid]
        try:
            a, b = f(*vals), g(*vals)
        except (ValueError, TypeError, ZeroDivisionError):
            continue
        if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
            continue
        if abs(a - b) > mpmath.mpf(10) ** -30 * (1 + abs(a)):
            point = ", ".join(f"{n}={v:.17g}" for n, v in zip([s.name for s in args], vals))
            raise SpecError(f"the numeric form is not equal to the loss: at {point} the loss is "
                            f"{mpmath.nstr(a, 17)} but the numeric form gives {mpmath.nstr(b, 17)}",
                            file=spec.source_path, key="numeric")


def _named_subexpressions(spec: Spec) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """The spec's named subexpressions with earlier names substituted (only inputs and
    params remain), in spec order."""
    out: list[tuple[sp.Symbol, sp.Expr]] = []
    for sym, body in spec.subexpressions:
        full = body
        for prev, prev_full in out:
            full = full.xreplace({prev: prev_full})
        if full.free_symbols and not full.is_Symbol:
            out.append((sp.Dummy(sym.name, real=True), full))
    return tuple(out)


def lower(spec: Spec, derivs: Derivatives | None) -> Lowered:
    """Choose the most accurate form of the loss and of each derivative."""
    args = spec_args(spec)
    grid = probe_grid(spec)
    named = _named_subexpressions(spec)
    check_numeric(spec, grid)
    # Alternative forms of the loss to differentiate: the spec's numeric form, and the
    # loss rewritten into stable primitives first (whose derivatives are stable:
    # d softplus = sigmoid, where d log(1 + e^x) = e^x/(1 + e^x) overflows).
    alternatives = []
    if spec.extra.get("numeric") is not None:
        alternatives.append(("numeric", spec.extra["numeric"]))
    stable = apply_rules(spec.loss)
    if stable != spec.loss:
        alternatives.append(("rules first", stable))
    loss = choose(_Scorer(spec.loss, args, grid), [("", spec.loss)] + alternatives, named)
    if derivs is None:
        return Lowered(loss, (), ())
    grads, hess = [], []
    wrt = derivs.wrt
    for a, va in enumerate(wrt):
        bases = [("", derivs.grad[a])] + [(label, tidy(sp.diff(f, va))) for label, f in alternatives]
        grads.append(choose(_Scorer(sp.diff(spec.loss, va), args, grid), bases, named))
    for a, va in enumerate(wrt):
        row = []
        for b, vb in enumerate(wrt):
            if b < a:
                row.append(hess[b][a])
                continue
            bases = [("", derivs.hess[a][b])] + [(label, tidy(sp.diff(f, va, vb))) for label, f in alternatives]
            row.append(choose(_Scorer(sp.diff(spec.loss, va, vb), args, grid), bases, named, BUDGET_HESSIAN))
        hess.append(tuple(row))
    return Lowered(loss, tuple(grads), tuple(hess))
