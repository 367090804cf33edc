"""The parsed spec: a loss as SymPy expressions plus the metadata around it.

The model is deliberately plain data (frozen dataclasses); every later stage
(derive, rewrite, analysis, codegen, docs) reads it and none changes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .structure import is_structured

ROLES = ("prediction", "target", "weight", "auxiliary")
CATEGORIES = ("regression", "robust", "classification", "segmentation", "generative",
              "ranking", "metric", "preference", "penalty")
REDUCTIONS = ("none", "sum", "mean")


@dataclass(frozen=True)
class Domain:
    """The set an input ranges over: an interval [lo, hi] with open/closed ends, or a
    finite set of labels (``values``)."""

    name: str
    lo: float = float("-inf")
    hi: float = float("inf")
    lo_open: bool = True
    hi_open: bool = True
    values: tuple[float, ...] | None = None

    def assumptions(self) -> dict[str, bool]:
        """SymPy assumptions implied by the domain (always real)."""
        a = {"real": True}
        if self.values is not None:
            if all(v > 0 for v in self.values):
                a["positive"] = True
            elif all(v >= 0 for v in self.values):
                a["nonnegative"] = True
        elif self.lo > 0 or (self.lo == 0 and self.lo_open):
            a["positive"] = True
        elif self.lo >= 0:
            a["nonnegative"] = True
        return a

    def contains(self, x: float) -> bool:
        if self.values is not None:
            return x in self.values
        lo_ok = x > self.lo if self.lo_open else x >= self.lo
        hi_ok = x < self.hi if self.hi_open else x <= self.hi
        return lo_ok and hi_ok


#: The domains a spec may name.
DOMAINS: dict[str, Domain] = {
    "real": Domain("real"),
    "positive": Domain("positive", lo=0.0),
    "nonnegative": Domain("nonnegative", lo=0.0, lo_open=False),
    "unit_interval": Domain("unit_interval", lo=0.0, hi=1.0, lo_open=False, hi_open=False),
    "open_unit_interval": Domain("open_unit_interval", lo=0.0, hi=1.0),
    "nonpositive": Domain("nonpositive", hi=0.0, hi_open=False),
    "labels01": Domain("labels01", values=(0.0, 1.0)),
    "labels_pm1": Domain("labels_pm1", values=(-1.0, 1.0)),
}


@dataclass(frozen=True)
class Input:
    """One array argument of the loss.

    ``axes`` lists non-batch axes (e.g. ``("class",)``); an empty tuple is an
    elementwise input with one value per batch element.
    """

    name: str
    role: str
    domain: Domain
    differentiable: bool
    symbol: sp.Symbol
    axes: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Param:
    """A scalar hyper-parameter, passed at run time (a new value never recompiles)."""

    name: str
    default: float
    symbol: sp.Symbol
    constraint: sp.Basic | None = None
    constraint_text: str = ""
    description: str = ""


@dataclass(frozen=True)
class Spec:
    """A loss, written once as mathematics."""

    name: str
    title: str
    summary: str
    category: str
    references: tuple[str, ...]
    inputs: tuple[Input, ...]
    params: tuple[Param, ...]
    subexpressions: tuple[tuple[sp.Symbol, sp.Expr], ...]
    loss_body: sp.Expr          # in terms of the named subexpressions
    loss: sp.Expr               # subexpressions substituted: only inputs and params
    loss_text: str              # the expression as written in the spec
    differentiable: bool = True
    default_reduction: str = "mean"
    torch: str | None = None
    source_path: str = ""
    source_sha256: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def differentiable_inputs(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.differentiable) if self.differentiable else ()

    @property
    def prediction(self) -> Input:
        """The first prediction-role input (the argument influence is measured in)."""
        for i in self.inputs:
            if i.role == "prediction":
                return i
        return self.inputs[0]

    @property
    def is_elementwise(self) -> bool:
        return not is_structured(self.loss) and not any(i.axes for i in self.inputs)

    def param_defaults(self) -> dict[sp.Symbol, float]:
        return {p.symbol: p.default for p in self.params}

    def input(self, name: str) -> Input:
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(name)
