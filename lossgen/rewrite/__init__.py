"""Numerically stable lowering (rewrite stage): identities as data, and the choice of
the most accurate equivalent form for every expression a kernel computes."""
from .lower import Choice, Lowered, lower
from .rules import RULES, Rule, apply_rules

__all__ = ["Rule", "RULES", "apply_rules", "Choice", "Lowered", "lower"]
