"""Asymptotic efficiency and gross-error sensitivity at the standard normal model.

Published values (location M-estimators, scale known, efficiency relative to the mean):

* Huber, k = 1.345: efficiency 0.95 (Holland & Welsch 1977, "Robust regression using
  iteratively reweighted least-squares", Comm. Statist. A6(9); Maronna, Martin & Yohai
  2006, "Robust Statistics: Theory and Methods", Table 2.3), gross-error sensitivity
  k / (2 Phi(k) - 1) = 1.637 (Hampel, Ronchetti, Rousseeuw & Stahel 1986, "Robust
  Statistics: The Approach Based on Influence Functions", §2.3).
* Tukey's biweight, c = 4.685: 0.95 (Beaton & Tukey 1974; Maronna et al. 2006, Table 2.4).
* Cauchy, c = 2.3849 and Welsch, c = 2.9846: 0.95 (Holland & Welsch 1977, Table 1, as
  2.385 and 2.985).
* Median (MAE): efficiency 2/pi = 0.637, gross-error sensitivity sqrt(pi/2) = 1.2533
  (Hampel et al. 1986, §2.3).  Mean (MSE): efficiency 1, unbounded sensitivity.

Each value is also computed here independently: closed forms for Huber and the median,
and ``mpmath.quad`` of the estimator's psi written out in this file for the others.
"""
from __future__ import annotations

import math

import mpmath
import pytest

from lossgen.analysis import analyze
from lossgen.analysis.problem import Problem
from lossgen.analysis.robustness import robustness, tune
from lossgen.catalog import spec_for

Phi, phi = mpmath.ncdf, mpmath.npdf


def normal_eff(psi, dpsi, cuts=()):
    """E[psi']^2 / E[psi^2] at N(0,1) by quadrature (independent of lossgen)."""
    pts = [-mpmath.inf, *cuts, mpmath.inf]
    with mpmath.workdps(30):
        e1 = mpmath.quad(lambda z: dpsi(z) * phi(z), pts)
        e2 = mpmath.quad(lambda z: psi(z) ** 2 * phi(z), pts)
        return e1 ** 2 / e2, e1


def huber_ref(k):
    with mpmath.workdps(30):
        k = mpmath.mpf(k)
        a = 2 * Phi(k) - 1                                    # E[psi'] = P(|Z| <= k)
        b = a - 2 * k * phi(k) + 2 * k ** 2 * (1 - Phi(k))   # E[psi^2]
        return a ** 2 / b, k / a


def tukey_psi(c):
    c = mpmath.mpf(c)
    return (lambda z: z * (1 - (z / c) ** 2) ** 2 if abs(z) <= c else 0,
            lambda z: (1 - (z / c) ** 2) * (1 - 5 * (z / c) ** 2) if abs(z) <= c else 0, (-c, c))


def cauchy_psi(c):
    c = mpmath.mpf(c)
    return lambda z: z / (1 + (z / c) ** 2), lambda z: (1 - (z / c) ** 2) / (1 + (z / c) ** 2) ** 2, ()


def welsch_psi(c):
    c = mpmath.mpf(c)
    return lambda z: z * mpmath.exp(-(z / c) ** 2), lambda z: (1 - 2 * (z / c) ** 2) * mpmath.exp(-(z / c) ** 2), ()


def rob(name, params=None, sup=None):
    return robustness(Problem.build(spec_for(name), params), sup)


def test_huber_k1345_efficiency_and_gross_error_sensitivity():
    eff, ges = huber_ref("1.345")
    assert float(eff) == pytest.approx(0.950, abs=5e-4)         # published
    assert float(ges) == pytest.approx(1.637, abs=5e-4)         # published
    p = analyze("huber", {"delta": 1.345})
    assert p["efficiency"] == pytest.approx(float(eff), rel=1e-9)
    assert p["gross_error_sensitivity"] == pytest.approx(float(ges), rel=1e-9)
    assert p["location"] is True


@pytest.mark.parametrize("name, c, ref", [("tukey", "4.685", tukey_psi), ("cauchy", "2.3849", cauchy_psi),
                                          ("welsch", "2.9846", welsch_psi)])
def test_classical_m_estimators_at_95_percent(name, c, ref):
    psi, dpsi, cuts = ref(c)
    eff, _ = normal_eff(psi, dpsi, cuts)
    assert float(eff) == pytest.approx(0.950, abs=5e-4)         # published
    got = rob(name, {"c": float(c)})
    assert got["efficiency"] == pytest.approx(float(eff), rel=1e-8)


def test_median_and_mean():
    mae = rob("mae", sup=1.0)
    assert mae["efficiency"] == pytest.approx(2 / math.pi, rel=1e-12)           # 0.637
    assert mae["gross_error_sensitivity"] == pytest.approx(math.sqrt(math.pi / 2), rel=1e-12)   # 1.2533
    mse = rob("mse", sup=math.inf)
    assert mse["efficiency"] == pytest.approx(1.0, rel=1e-12)
    assert mse["gross_error_sensitivity"] == math.inf


def test_efficiency_uses_stein_identity_when_psi_jumps():
    # psi = sign(r): E[psi'] is not the a.e. derivative (0) but E[Z sign Z] = sqrt(2/pi)
    m = rob("quantile", sup=0.5)["moments"]
    assert m["E_psi_prime"] == pytest.approx(0.5 * math.sqrt(2 / math.pi), rel=1e-12)


def test_not_fisher_consistent_gives_no_efficiency():
    got = rob("quantile", {"tau": 0.3})
    assert got["efficiency"] is None and "Fisher" in got["efficiency_note"]


def test_not_a_location_loss():
    assert rob("logistic")["efficiency"] is None
    assert rob("poisson_nll")["location"] is False


@pytest.mark.parametrize("name, published", [("huber", 1.345), ("tukey", 4.685), ("cauchy", 2.3849),
                                             ("welsch", 2.9846)])
def test_tuning_constant_for_95_percent(name, published):
    got = tune(Problem.build(spec_for(name)), 0.95)
    assert got["value"] == pytest.approx(published, abs=5e-4)
    assert got["efficiency"] == pytest.approx(0.95, abs=1e-10)


def test_huber_tuning_through_analyze_reports_its_sensitivity():
    p = analyze("huber", efficiency=0.95)
    t = p["tuning"]
    assert t["param"] == "delta" and t["value"] == pytest.approx(1.345, abs=5e-4)
    _, ges = huber_ref(t["value"])
    assert t["gross_error_sensitivity"] == pytest.approx(float(ges), rel=1e-8)
