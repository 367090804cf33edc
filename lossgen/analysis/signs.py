r"""Sign of an expression over a box: a small prover used by every other module.

``sign_of(expr, ranges)`` answers one of ``"pos"`` (:math:`> 0`), ``"nonneg"``
(:math:`\ge 0`), ``"zero"``, ``"nonpos"``, ``"neg"`` or ``None`` (not proved), where
``ranges`` maps every free symbol to the numeric hull (lo, hi) of its values.  It tries,
cheapest first, on the expression and on a few equivalent forms (``together``,
``factor``, ``cancel``, and ``simplify`` under a time limit):

1. SymPy's assumptions (the symbols carry the assumptions their ranges imply), and
2. interval enclosure over the box (:mod:`.intervals`).

Both are sound: an answer is a proof, ``None`` is "unknown", never "no".
"""
from __future__ import annotations

import sympy as sp

from .budget import attempt
from .intervals import lower_upper

NONNEG = ("pos", "nonneg", "zero")
NONPOS = ("neg", "nonpos", "zero")


def _by_assumptions(e: sp.Expr):
    def ask():
        if e.is_zero:
            return "zero"
        if e.is_positive:
            return "pos"
        if e.is_nonnegative:
            return "nonneg"
        if e.is_negative:
            return "neg"
        if e.is_nonpositive:
            return "nonpos"
        return None
    return attempt(ask, 1.0)


def _by_intervals(e: sp.Expr, ranges: dict):
    missing = e.free_symbols - set(ranges)
    if missing:
        return None
    got = lower_upper(e, {s: ranges[s] for s in e.free_symbols})
    if got is None:
        return None
    lo, hi = got
    if lo == hi == 0:
        return "zero"
    if lo > 0:
        return "pos"
    if lo >= 0:
        return "nonneg"
    if hi < 0:
        return "neg"
    if hi <= 0:
        return "nonpos"
    return None


#: expressions larger than this (``count_ops``) are tried as written only
BIG = 150


def forms(e: sp.Expr, *, slow: bool = True, seconds: float = 2.0) -> list[sp.Expr]:
    """Equivalent forms worth trying (each under a time limit), without duplicates."""
    out = [e]
    if sp.count_ops(e) > BIG:
        return out
    tries = [sp.together, sp.factor, sp.cancel]
    if slow:
        tries.append(sp.simplify)
    for f in tries:
        g = attempt(f, seconds if f is sp.simplify else seconds / 2, e)
        if g is not None and g not in out and not g.has(sp.nan, sp.zoo):
            out.append(g)
    return out


def sign_of(e: sp.Expr, ranges: dict, *, slow: bool = False, want: str | None = None) -> str | None:
    """The proved sign of ``e`` over ``ranges`` (see module docstring).

    ``want`` ("nonneg" or "nonpos") stops at the first form that proves it.
    """
    e = sp.sympify(e)
    if e.is_Number:
        return "zero" if e == 0 else ("pos" if e > 0 else "neg")
    best = None
    for form in forms(e, slow=slow) if (slow or e.is_Add or e.is_Mul) else [e]:
        for how in (_by_assumptions, lambda f: _by_intervals(f, ranges)):
            s = how(form)
            if s is None:
                continue
            if want == "nonneg" and s in NONNEG or want == "nonpos" and s in NONPOS:
                return s
            if best is None or (best in ("nonneg", "nonpos") and s in ("pos", "neg", "zero")):
                best = s
        if want is None and best in ("pos", "neg", "zero"):
            return best
    return best


def is_nonneg(e: sp.Expr, ranges: dict, *, slow: bool = False) -> bool:
    return sign_of(e, ranges, slow=slow, want="nonneg") in NONNEG


def is_nonpos(e: sp.Expr, ranges: dict, *, slow: bool = False) -> bool:
    return sign_of(e, ranges, slow=slow, want="nonpos") in NONPOS


def flip(s: str | None) -> str | None:
    return {"pos": "neg", "neg": "pos", "nonneg": "nonpos", "nonpos": "nonneg", "zero": "zero"}.get(s)
