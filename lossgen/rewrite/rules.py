r"""Numerical-stability identities, as a table of (pattern -> replacement).

Each rule states an identity over the reals on the domain where its left side is
defined, and replaces a form that overflows or cancels by one that does not.  The table
reads like a list of identities; :func:`apply_rules` runs it to a fixed point.  Rules run
before common-subexpression elimination (afterwards the patterns no longer match), and
each is tested alone against mpmath at extreme arguments (tests/test_rewrite_rules.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..primitives import expm1, log1p, log_sigmoid, logaddexp, logcosh, sigmoid, softplus, xlogy

a = sp.Wild("a")
b = sp.Wild("b")
c = sp.Wild("c", properties=[lambda e: not e.is_Integer])  # symbolic or fractional powers


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: sp.Expr
    replacement: sp.Expr | Callable
    why: str
    #: Optional guard on the matched node: SymPy matches ``1 + a`` against any
    #: expression (``log(x)`` matches ``log(1 + a)`` with ``a = x - 1``), so a rule whose
    #: point is a literal ``1 + ...`` says so here.
    when: Callable[[sp.Expr], bool] | None = None


def _adds_one(*path: int) -> Callable[[sp.Expr], bool]:
    """Guard: the node's argument at ``path`` is literally a sum with the term 1."""
    def guard(node: sp.Expr) -> bool:
        for k in path:
            node = node.args[k] if len(node.args) > k else node
        return node.is_Add and sp.S.One in node.args
    return guard


def _has_sqrt_of_one_plus(node: sp.Expr) -> bool:
    return any(isinstance(t, sp.Pow) and t.exp == sp.S.Half and t.base.is_Add and sp.S.One in t.base.args
               for t in node.args)


#: The table, in the order it is applied (a rule earlier in the table wins where two
#: patterns overlap: e^a/(1+e^a) must become sigmoid(a), not e^a * sigmoid(-a)).
RULES: tuple[Rule, ...] = (
    Rule("softplus", sp.log(1 + sp.exp(a)), softplus(a), "log(1+e^a) overflows for a > 709"),
    Rule("softplus_log1p", log1p(sp.exp(a)), softplus(a), "log1p(e^a) overflows for a > 709"),
    Rule("log_sigmoid", sp.log(sigmoid(a)), log_sigmoid(a), "sigmoid underflows to 0 for a < -745"),
    Rule("log_one_minus_sigmoid", sp.log(1 - sigmoid(a)), log_sigmoid(-a), "1 - sigmoid(a) cancels for a > 37"),
    Rule("sigmoid_ratio", sp.exp(a) / (1 + sp.exp(a)), sigmoid(a), "e^a/(1+e^a) is inf/inf for a > 709"),
    Rule("sigmoid_exp", 1 / (1 + sp.exp(-a)), sigmoid(a), "e^{-a} overflows for a < -709"),
    Rule("logcosh", sp.log(sp.cosh(a)), logcosh(a), "cosh overflows for |a| > 710"),
    Rule("logaddexp", sp.log(sp.exp(a) + sp.exp(b)), logaddexp(a, b), "e^a overflows"),
    Rule("xlogx", a * sp.log(a), xlogy(a, a), "0 * log 0 is NaN; the limit is 0"),
    Rule("log1p", sp.log(1 + a), log1p(a), "1 + a rounds away a's digits for small a", _adds_one(0)),
    Rule("expm1", sp.exp(a) - 1, expm1(a), "e^a - 1 cancels for small a"),
    Rule("one_minus_exp", 1 - sp.exp(a), -expm1(a), "1 - e^a cancels for small a"),
    Rule("sech2", 1 - sp.tanh(a) ** 2, sp.cosh(a) ** -2, "1 - tanh^2 cancels for |a| > 1"),
    Rule("sqrt1p_minus_1", sp.sqrt(1 + a) - 1, a / (sp.sqrt(1 + a) + 1), "cancels for small a",
         _has_sqrt_of_one_plus),
    Rule("sigmoid_power", sigmoid(a) ** c, sp.exp(c * log_sigmoid(a)), "power of a tiny sigmoid: log space"),
)


def _apply(expr: sp.Expr, rule: Rule) -> sp.Expr:
    # only nodes of the pattern's own kind (an Add for e^a - 1, a log for log(1 + a))
    # are matched: SymPy's commutative matching is what costs, and a node of another
    # kind is not an instance of the identity's left side
    # and a sum or product is matched only if it has, among its own terms or factors, a
    # function of each kind the pattern's terms or factors are (a log for a*log(a), an
    # exp for e^a/(1 + e^a)): a quick test that spares the matching of most nodes
    kind = type(rule.pattern)
    needs = _direct_heads(rule.pattern)

    def query(node):
        return (type(node) is kind and needs <= {type(t) for t in node.args}
                and node.match(rule.pattern) is not None and (rule.when is None or rule.when(node)))

    def value(node):
        m = node.match(rule.pattern)
        return rule.replacement.xreplace(m) if isinstance(rule.replacement, sp.Basic) else rule.replacement(**{
            k.name: v for k, v in m.items()})
    return expr.replace(query, value)


@functools.lru_cache(maxsize=None)
def _direct_heads(pattern: sp.Expr) -> frozenset[type]:
    """The function classes among a sum's or product's own arguments (empty otherwise)."""
    if not isinstance(pattern, (sp.Add, sp.Mul)):
        return frozenset()
    return frozenset(type(t) for t in pattern.args if isinstance(t, sp.Function))


@functools.lru_cache(maxsize=None)
def _pattern_heads(pattern: sp.Expr) -> frozenset[type]:
    return _heads(pattern)


def _heads(expr: sp.Expr) -> frozenset[type]:
    """The function classes that occur in ``expr`` (log, exp, sigmoid, ...)."""
    return frozenset(type(n) for n in sp.preorder_traversal(expr) if isinstance(n, sp.Function))


def apply_rules(expr: sp.Expr, rules: tuple[Rule, ...] = RULES, max_rounds: int = 6) -> sp.Expr:
    """Apply every rule until nothing changes (at most ``max_rounds`` passes).

    A rule whose pattern holds a function (log, exp, sigmoid, ...) that the expression
    does not is skipped without matching (matching a large expression costs seconds);
    the result is the same as trying it."""
    heads = _heads(expr)
    for _ in range(max_rounds):
        before = expr
        for rule in rules:
            if not _pattern_heads(rule.pattern) <= heads:
                continue
            out = _apply(expr, rule)
            if out != expr:
                expr, heads = out, _heads(out)
        if expr == before:
            break
    return expr
