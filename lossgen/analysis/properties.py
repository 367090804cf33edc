r"""The analysis of one loss, as one JSON-ready dict (``lossgen analyze``, ``Loss.properties``).

:func:`analyze` runs the steps in order, each under a share of one deadline (default
30 s) and a wall-clock limit (:mod:`.budget`), so a slow step answers "unknown" and
never hangs the whole:

1. convexity (:mod:`.convexity`) — ``convex``, ``convexity``;
2. smoothness (:mod:`.smoothness`) — ``differentiable``, ``kinks``, ``breakpoints``,
   ``continuity``;
3. influence (:mod:`.influence`) — ``influence_*``, ``redescending``, ``lipschitz``,
   ``smoothness`` (the constant :math:`\sup|L''|`);
4. robustness (:mod:`.robustness`) — ``efficiency``, ``gross_error_sensitivity``, and
   with ``efficiency=E`` the parameter value that reaches it (``tuning``).

Numbers: a float, the string ``"oo"`` for :math:`+\infty`, or ``null`` when not
applicable or not found.  Symbolic answers are SymPy strings.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import sympy as sp

from ..spec.model import Spec
from .budget import Deadline, Timeout, limited
from .convexity import Verdict, convexity
from .influence import influence
from .problem import Problem
from .robustness import robustness, tune
from .smoothness import smoothness

DEFAULT_DEADLINE = 30.0
#: share of the time left that each step may use (the rest stays for later steps)
SHARES = {"convexity": 0.5, "smoothness": 0.35, "influence": 0.75, "robustness": 1.0}


def load(target) -> Spec:
    """A Spec from a Spec, a path to a spec file, or a catalog name."""
    if isinstance(target, Spec):
        return target
    from ..spec import load_spec
    p = Path(str(target))
    if p.suffix == ".toml" or p.is_file():
        return load_spec(p)
    from ..catalog import spec_for
    return spec_for(str(target))


def jsonable(v):
    """floats: inf -> "oo", nan -> None; SymPy -> str; containers recursively."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, (str, int)):
        return v
    if isinstance(v, float):
        return "oo" if v == math.inf else ("-oo" if v == -math.inf else (None if math.isnan(v) else v))
    if isinstance(v, sp.Basic):
        return sp.sstr(v)
    try:
        return jsonable(float(v))
    except (TypeError, ValueError):
        return str(v)


def _step(name: str, fn, deadline: Deadline, timed_out: list, times: dict):
    seconds = deadline.remaining() * SHARES[name]
    sub = Deadline(seconds)
    t0 = time.perf_counter()
    try:
        return limited(fn, seconds + 0.5, sub)
    except Timeout:
        timed_out.append(name)
        return None
    except (ArithmeticError, ValueError, TypeError, NotImplementedError, RecursionError, KeyError,
            AttributeError, IndexError) as exc:   # a SymPy/mpmath failure: this step is unknown, say why
        timed_out.append(f"{name} (failed: {type(exc).__name__}: {exc})"[:300])
        return None
    finally:
        times[name] = round(time.perf_counter() - t0, 3)


def analyze(target, params: dict | None = None, *, deadline: float | None = DEFAULT_DEADLINE,
            efficiency: float | None = None) -> dict:
    """Every property of one loss (see module docstring); never raises Timeout."""
    t0 = time.perf_counter()
    spec = load(target)
    dl = Deadline(deadline)
    problem = Problem.build(spec, params, dl)
    timed_out: list[str] = []
    times: dict[str, float] = {}
    out = {"name": spec.name, "params": {p.name: problem.values[problem.by_name[p.name]] for p in spec.params},
           "fixed": dict(problem.fixed),
           "scope": "every input in its domain; parameters: " + _scope(problem)}

    conv = _step("convexity", lambda d: convexity(problem, d), dl, timed_out, times)
    if conv is None:
        conv = Verdict("unknown", "timeout", "the time budget ran out")
    out["convex"] = {"proved": True, "disproved": False}.get(conv.verdict)
    out["convexity"] = conv.as_dict()

    sm = (_step("smoothness", lambda d: smoothness(problem, d), dl, timed_out, times) or {}) \
        if spec.is_elementwise else {}
    out.update(differentiable=sm.get("differentiable"), kinks=sm.get("kinks"), breakpoints=sm.get("breakpoints"),
               continuity=sm.get("continuity"))
    pred = spec.prediction.name
    kinked = None if not sm else any(k["input"] == pred for k in sm.get("kinks", []))

    if spec.differentiable and spec.is_elementwise:
        inf = _step("influence", lambda d: influence(problem, d, kinked), dl, timed_out, times) or {}
    else:
        inf = {"influence_method": "not analysed: " + ("the loss is declared non-differentiable"
                                                       if not spec.differentiable else "structured loss")}
    inf.pop("_bound_expr", None) if efficiency is None else None
    for k in ("influence_bounded", "influence_bound", "influence_bound_value", "influence_method",
              "influence_variable", "influence_kind", "redescending", "redescending_method", "lipschitz",
              "lipschitz_value",
              "smoothness", "smoothness_value", "smoothness_method"):
        out[k] = inf.get(k)

    sup = out["influence_bound_value"]
    rob = _step("robustness", lambda d: robustness(problem, sup), dl, timed_out, times) if spec.is_elementwise else None
    rob = rob or {}
    out.update(efficiency=rob.get("efficiency"), gross_error_sensitivity=rob.get("gross_error_sensitivity"),
               location=rob.get("location"), efficiency_note=rob.get("efficiency_note"))
    if efficiency is not None:
        out["tuning"] = _tuning(problem, efficiency, inf)
    out["timed_out"] = timed_out
    out["step_seconds"] = times
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return jsonable(out)


def _scope(problem: Problem) -> str:
    parts = []
    for p in problem.spec.params:
        if p.name in problem.fixed:
            parts.append(f"{p.name} = {problem.fixed[p.name]:g}")
        else:
            parts.append(f"{p.name}: {p.constraint_text or 'any real'}")
    return "; ".join(parts) if parts else "none"


def _tuning(problem: Problem, target: float, inf: dict) -> dict:
    expr = inf.get("_bound_expr")
    numeric_only = (inf.get("influence_method") or "").startswith("numeric")

    def sup_fn(values):
        if expr is None or numeric_only:
            return None
        if expr == sp.oo:
            return math.inf
        return float(expr.xreplace({s: sp.nsimplify(v, rational=True) for s, v in values.items()}))
    try:
        return limited(tune, DEFAULT_DEADLINE, problem, target, sup_fn)
    except Timeout:
        return {"error": "timeout"}
