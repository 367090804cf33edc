r"""Everything one catalog section states, gathered from the stages upstream into one
JSON-ready record (the expensive part of the docs; cached by :mod:`.store`).

Sources, each named in the section next to what it gave:

* the spec (:mod:`lossgen.spec`): definition as written, named subexpressions, the
  spec's own ``numeric`` form, parameters, references, notes;
* :mod:`lossgen.derive`: gradients and Hessians (``sympy.diff``; Dirac terms kept);
* :mod:`lossgen.rewrite` (``lower``): the form each kernel computes and its measured error;
* :mod:`lossgen.analysis`: convexity, kinks, influence, constants, efficiency;
* the generated module's header through :func:`_certificate`: the accuracy certificate.

Formulas are stored as LaTeX (:mod:`.latex`), each with an id, its left-hand side and its
source; derivatives are shown with the spec's named subexpressions folded back in.
"""
from __future__ import annotations

import math
import re

import sympy as sp

from ..spec.model import Spec
from .latex import symbol_latex, to_latex
from .notes import nll_of, typical_use

#: Analysis deadline for the docs (seconds); a step that times out answers "unknown".
ANALYSIS_DEADLINE = 60.0


def _certificate(loss) -> list[dict]:
    """The accuracy certificate of a catalog loss as rows (output, dtype, max_ulp,
    nonfinite, points): the figures ``lossgen build`` measured and wrote into the
    generated module's header (:mod:`lossgen.certificate`)."""
    from pathlib import Path

    from ..certificate import read
    rows = read(Path(loss.module.__file__).read_text(encoding="utf-8"))
    if not rows:
        raise ValueError(f"{loss.module.__file__} has no accuracy certificate: run `lossgen build`")
    return rows


def _named(spec: Spec) -> list[tuple[sp.Symbol, sp.Expr]]:
    """Named subexpressions with earlier names substituted (only inputs and params remain)."""
    out: list[tuple[sp.Symbol, sp.Expr]] = []
    for sym, body in spec.subexpressions:
        full = body
        for prev, prev_full in out:
            full = full.xreplace({prev: prev_full})
        out.append((sym, full))
    return out


def fold(expr: sp.Expr, named: list[tuple[sp.Symbol, sp.Expr]]) -> sp.Expr:
    """``expr`` with each named subexpression (latest first) written as its name."""
    for sym, full in reversed(named):
        if full.free_symbols and not full.is_Symbol:
            expr = expr.subs(full, sym)
    return expr


def _partial(v: str, w: str | None = None) -> str:
    if w is None:
        return rf"\frac{{\partial L}}{{\partial {v}}}"
    if w == v:
        return rf"\frac{{\partial^{{2}} L}}{{\partial {v}^{{2}}}}"
    return rf"\frac{{\partial^{{2}} L}}{{\partial {v}\, \partial {w}}}"


def formula(fid: str, lhs: str, expr: sp.Expr, source: str) -> dict:
    return {"id": fid, "lhs": lhs, "tex": to_latex(expr), "source": source}


def formulas(spec: Spec, derivs, lowered) -> list[dict]:
    """Every formula of the section, in order."""
    named = _named(spec)
    src = spec.source_path.rsplit("/", 1)[-1] if spec.source_path else f"{spec.name}.toml"
    out = [formula("definition", "L", spec.loss_body, f"the spec ({src}, key loss), as written")]
    for sym, body in spec.subexpressions:
        out.append(formula(f"subexpression/{sym.name}", symbol_latex(sym.name), body,
                           f"the spec ({src}, [expressions] {sym.name})"))
    if spec.extra.get("numeric") is not None:
        out.append(formula("numeric", "L", fold(spec.extra["numeric"], named),
                           f"the spec ({src}, key numeric); checked equal to the loss by the lowering stage"))
    if derivs is not None:
        names = [symbol_latex(v.name) for v in derivs.wrt]
        for a, v in enumerate(derivs.wrt):
            out.append(formula(f"gradient/{v.name}", _partial(names[a]), fold(derivs.grad[a], named),
                               "lossgen.derive: sympy.diff of the loss"))
        for a, va in enumerate(derivs.wrt):
            for b in range(a, len(derivs.wrt)):
                out.append(formula(f"hessian/{va.name}/{derivs.wrt[b].name}", _partial(names[a], names[b]),
                                   fold(derivs.hess[a][b], named),
                                   "lossgen.derive: sympy.diff twice (Dirac terms at kinks kept)"))
    lowered_rows = [("loss", "L", lowered.loss)]
    if derivs is not None:
        names = [symbol_latex(v.name) for v in derivs.wrt]
        lowered_rows += [(f"gradient/{v.name}", _partial(names[a]), lowered.grad[a])
                         for a, v in enumerate(derivs.wrt)]
        lowered_rows += [(f"hessian/{va.name}/{derivs.wrt[b].name}", _partial(names[a], names[b]), lowered.hess[a][b])
                         for a, va in enumerate(derivs.wrt) for b in range(a, len(derivs.wrt))]
    for fid, lhs, choice in lowered_rows:
        f = formula(f"kernel/{fid}", lhs, fold(choice.expr, named),
                    f"lossgen.rewrite.lower: candidate '{choice.how}' of {choice.candidates}")
        f["how"] = choice.how
        f["typical_ulp"] = _finite(choice.max_ulp)
        f["relative_ulp"] = _finite(choice.max_rel_ulp)
        out.append(f)
    return out


def _finite(x: float):
    return x if math.isfinite(x) else "oo"


_SAFE = re.compile(r"^[A-Za-z0-9_.,\s+\-*/()]*$")
_FUNCS = {"sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "pi": sp.pi, "E": sp.E, "oo": sp.oo, "Abs": sp.Abs,
          "Max": sp.Max, "Min": sp.Min}


def property_latex(text, spec: Spec) -> str | None:
    """LaTeX of a property the analysis states as a SymPy string (``"delta"``,
    ``"c/2"``, ``"oo"``), or None.  Only strings over the spec's parameter names and a
    few functions are read (never arbitrary text)."""
    if text is None:
        return None
    text = str(text)
    if not _SAFE.match(text):
        return None
    names = {p.name: p.symbol for p in spec.params}
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    if not words <= set(names) | set(_FUNCS):
        return None
    try:
        return to_latex(sp.sympify(text, locals={**_FUNCS, **names}))
    except (sp.SympifyError, TypeError, SyntaxError):
        return None


def properties(p: dict, spec: Spec) -> dict:
    """The analysis dict, reduced to what the docs print (no timings: they vary)."""
    keep = ("scope", "convex", "convexity", "differentiable", "kinks", "breakpoints", "continuity",
            "influence_bounded", "influence_bound", "influence_bound_value", "influence_method",
            "influence_variable", "influence_kind", "redescending", "redescending_method", "lipschitz",
            "lipschitz_value", "smoothness", "smoothness_value", "smoothness_method", "efficiency",
            "gross_error_sensitivity", "location", "efficiency_note", "timed_out")
    out = {k: p.get(k) for k in keep}
    for k in ("influence_bound", "lipschitz", "smoothness"):
        out[k + "_tex"] = property_latex(p.get(k), spec)
    return out


def table_row(spec: Spec, props: dict) -> dict:
    """One row of the catalog's summary table."""
    return {"convex": props.get("convex"), "differentiable": props.get("differentiable"),
            "bounded_influence": props.get("influence_bounded"), "nll": nll_of(spec.name),
            "use": typical_use(spec.name, spec.category)}


def spec_facts(spec: Spec) -> dict:
    return {
        "name": spec.name, "title": spec.title, "summary": spec.summary, "category": spec.category,
        "references": list(spec.references), "notes": spec.notes, "torch": spec.torch,
        "default_reduction": spec.default_reduction, "differentiable": spec.differentiable,
        "inputs": [{"name": i.name, "tex": symbol_latex(i.name), "role": i.role, "domain": i.domain.name,
                    "differentiable": bool(i.differentiable and spec.differentiable),
                    "description": i.description} for i in spec.inputs],
        "params": [{"name": p.name, "tex": symbol_latex(p.name), "default": p.default,
                    "constraint": to_latex(p.constraint) if p.constraint is not None else None,
                    "description": p.description} for p in spec.params],
    }


def gather(spec: Spec, loss, analysis: dict) -> dict:
    """The record of one loss: spec facts, formulas, properties, certificate, summary row.

    ``loss`` is the catalog :class:`~lossgen.runtime.loss.Loss` (its kernels are what the
    certificate measures); ``analysis`` the dict of :func:`lossgen.analysis.analyze`.
    """
    from ..derive import derive
    from ..rewrite.stored import lowered as stored_lowering
    derivs = derive(spec) if spec.differentiable else None
    lowered = stored_lowering(spec, derivs)   # the build's lowering, or measured now
    props = properties(analysis, spec)
    record = spec_facts(spec)
    record.update(formulas=formulas(spec, derivs, lowered), properties=props,
                  certificate=_certificate(loss), row=table_row(spec, props))
    return record
