r"""Robustness figures of a location loss :math:`L = g(\hat y - y)` at the normal model.

For the M-estimator of location defined by :math:`\psi = g'` at :math:`Z \sim N(0, 1)`
(Hampel, Ronchetti, Rousseeuw & Stahel 1986, *Robust Statistics: The Approach Based on
Influence Functions*, §2.3; Maronna, Martin & Yohai 2006, *Robust Statistics: Theory
and Methods*, §2.5):

* asymptotic variance :math:`V = E[\psi^2] / E[\psi']^2`, so the **asymptotic
  efficiency** relative to the mean is

  .. math:: \mathrm{eff} = \frac{E[\psi'(Z)]^2}{E[\psi(Z)^2]},

  with :math:`E[\psi'(Z)]` computed as :math:`E[Z\,\psi(Z)]` (Stein's identity), which
  stays right when :math:`\psi` jumps (the median: :math:`\psi = \operatorname{sign}`);
* the influence function :math:`\mathrm{IF}(x) = \psi(x) / E[\psi'(Z)]` and the
  **gross-error sensitivity** :math:`\gamma^* = \sup |\psi| / E[\psi'(Z)]`.

The expectations are ``mpmath.quad`` integrals against the normal density, split at
every kink of :math:`\psi`, at 30 digits.  Both figures are invariant to scaling the loss.
They are reported only when :math:`E[\psi(Z)] = 0` (Fisher consistency at the model;
a pinball loss with :math:`\tau \ne 1/2` estimates a quantile, not the centre).

:func:`tune` inverts the efficiency: the value of the loss's one free parameter that
gives a requested efficiency (Huber: 0.95 at :math:`\delta \approx 1.345`), by bracketing
on a log grid and solving with mpmath's Anderson–Björck iteration.
"""
from __future__ import annotations

import math

import mpmath
import sympy as sp

from ..primitives import PRIMITIVES
from ..verify.points import kink_expressions
from .kinks import solve_for
from .numeric import no_dirac
from .problem import Problem, set_hull

DPS = 30


def location_psi(problem: Problem):
    """(psi in the residual, residual symbol) for a location loss, else None."""
    pred = problem.spec.prediction
    others = [i for i in problem.spec.inputs if i.name != pred.name]
    if len(others) != 1 or others[0].role != "target":
        return None
    views = problem.views(pred.name, enumerate_params=False)
    if len(views) != 1 or views[0].kind != "location" or not views[0].label.endswith(f"- {others[0].name}"):
        return None
    v = views[0]
    return no_dirac(v.apply(sp.diff(problem.loss, v.var))), v.var


_MP = [{**{n: c.mpmath for n, c in PRIMITIVES.items()},
        "sign": lambda v: mpmath.mpf(0) if v == 0 else mpmath.sign(v),
        "Heaviside": lambda v, *h: mpmath.mpf(0.5) if v == 0 else mpmath.mpf(v > 0)}, "mpmath"]


class Psi:
    """psi(r) with its kinks, evaluated at the working precision for parameter values."""

    def __init__(self, psi: sp.Expr, r: sp.Symbol, params):
        self.psi, self.r, self.params = psi, r, list(params)
        self.f = sp.lambdify([r] + self.params, psi, modules=_MP)
        self.kinks = []
        for g in kink_expressions(psi):
            self.kinks += [k for k in (solve_for(g, r) or []) if not k.has(sp.I)]
        self._kf = [sp.lambdify(self.params, k, modules=_MP) for k in self.kinks]

    def cuts(self, pv: list) -> list:
        pts = set()
        for kf in self._kf:
            try:
                v = mpmath.mpf(kf(*pv))
            except (TypeError, ValueError, ZeroDivisionError):
                continue
            if mpmath.isfinite(v):
                pts.add(v)
        return [-mpmath.inf] + sorted(pts) + [mpmath.inf]


def moments(psi: Psi, values: dict, dps: int = DPS) -> dict:
    """E[psi], E[Z psi] (= E[psi']), E[psi^2] at Z ~ N(0,1) for parameter ``values``."""
    with mpmath.workdps(dps):
        pv = [mpmath.mpf(values[p]) for p in psi.params]
        f = psi.f
        cuts = psi.cuts(pv)

        errors = []

        def E(h):
            v, err = mpmath.quad(lambda z: h(z) * mpmath.npdf(z), cuts, error=True)
            errors.append(err / max(1, abs(v)))
            return v
        m1 = E(lambda z: f(z, *pv))
        mz = E(lambda z: z * f(z, *pv))
        m2 = E(lambda z: f(z, *pv) ** 2)
    return {"E_psi": m1, "E_psi_prime": mz, "E_psi2": m2, "converged": max(errors) < mpmath.mpf(10) ** -(dps // 3)}


def figures(psi: Psi, values: dict, sup_value) -> dict:
    """efficiency and gross-error sensitivity (None when not Fisher-consistent)."""
    m = moments(psi, values)
    out = {"E_psi_prime": float(m["E_psi_prime"]), "E_psi2": float(m["E_psi2"]), "E_psi": float(m["E_psi"])}
    if not m["converged"]:
        out.update(efficiency=None, gross_error_sensitivity=None,
                   note="the moments of psi at N(0,1) did not converge (psi may be singular)")
        return out
    scale = mpmath.sqrt(m["E_psi2"]) if m["E_psi2"] > 0 else 1
    if abs(m["E_psi"]) > mpmath.mpf(10) ** -12 * scale or m["E_psi_prime"] <= 0:
        out.update(efficiency=None, gross_error_sensitivity=None,
                   note="not Fisher-consistent at the normal model (E[psi(Z)] != 0)"
                   if abs(m["E_psi"]) > mpmath.mpf(10) ** -12 * scale else "E[psi'] <= 0")
        return out
    out["efficiency"] = float(m["E_psi_prime"] ** 2 / m["E_psi2"])
    if sup_value is None:
        out["gross_error_sensitivity"] = None
    elif math.isinf(sup_value):
        out["gross_error_sensitivity"] = math.inf
    else:
        out["gross_error_sensitivity"] = float(mpmath.mpf(sup_value) / m["E_psi_prime"])
    return out


def robustness(problem: Problem, sup_value) -> dict:
    """``efficiency`` and ``gross_error_sensitivity`` at the given/default parameters."""
    lp = location_psi(problem)
    if lp is None:
        return {"efficiency": None, "gross_error_sensitivity": None, "location": False,
                "efficiency_note": "not a location loss g(prediction - target)"}
    got = figures(Psi(*lp, problem.params), problem.values, sup_value)
    return {"efficiency": got.get("efficiency"), "gross_error_sensitivity": got.get("gross_error_sensitivity"),
            "location": True, "efficiency_note": got.get("note", "asymptotic efficiency at N(0,1), mpmath quad"),
            "moments": {k: got[k] for k in ("E_psi", "E_psi_prime", "E_psi2")}}


def tune(problem: Problem, target: float, sup_fn=None) -> dict:
    """The value of the one free parameter that gives efficiency ``target``."""
    lp = location_psi(problem)
    if lp is None:
        return {"error": "efficiency is defined for location losses g(prediction - target) only"}
    psi, r = lp
    free = [p for p in problem.params if p in psi.free_symbols and p.name not in problem.fixed]
    if len(free) != 1:
        return {"error": f"needs exactly one free parameter in psi, found {[p.name for p in free]}"}
    p = free[0]
    P = Psi(psi, r, problem.params)
    lo, hi = set_hull(problem.ranges[p])

    def eff(v, dps=15):
        vals = dict(problem.values)
        vals[p] = v
        m = moments(P, vals, dps=dps)
        return m["E_psi_prime"] ** 2 / m["E_psi2"] - target if m["E_psi2"] > 0 else None

    def ok(v):
        return lo < v < hi and problem.constraint_holds({p: v})

    a = problem.values[p] if problem.values[p] != 0 else 1.0
    ea = eff(a)
    for factor in (2.0, 0.5):      # walk outward from the default until the sign changes
        b = a
        for _ in range(12):
            b2 = b * factor if b > 0 else b / factor
            if not ok(b2):
                break
            eb = eff(b2)
            if ea is not None and eb is not None and ea * eb <= 0:
                with mpmath.workdps(18):
                    root = mpmath.findroot(lambda v: eff(v, 18), (mpmath.mpf(b), mpmath.mpf(b2)),
                                           solver="anderson", tol=1e-20)
                return _tuned(problem, p, float(root), target, P, sup_fn)
            b = b2
    return {"error": f"efficiency {target} not reached by varying {p.name} from its default"}


def _tuned(problem, p, value, target, P, sup_fn):
    vals = dict(problem.values)
    vals[p] = value
    sup = sup_fn(vals) if sup_fn is not None else None
    got = figures(P, vals, sup)
    return {"param": p.name, "value": value, "efficiency": got.get("efficiency"),
            "gross_error_sensitivity": got.get("gross_error_sensitivity"), "requested": target}


__all__ = ["Psi", "figures", "location_psi", "moments", "robustness", "tune"]
