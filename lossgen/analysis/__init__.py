"""Properties proved from the spec: convexity, smoothness, influence, robustness.

``analyze(name_or_path_or_spec, params=None, deadline=30.0, efficiency=None)`` returns
the JSON-ready dict that ``lossgen analyze --json`` prints and ``Loss.properties``
holds.  The analysis is computed on demand: the build path never imports it.

Modules, in the order the data flows:

* ``budget``      deadline and wall-clock limits (a timeout answers "unknown")
* ``problem``     ranges of inputs and parameters; one-variable views of a loss
* ``intervals``   interval enclosures (mpmath.iv)
* ``bnb``         branch-and-bound on enclosures, tails through x = 1/u
* ``signs``       sign of an expression over a box (assumptions + intervals)
* ``dcp``         disciplined-convex-programming rules over the expression tree
* ``kinks``       Dirac weights of second derivatives, Piecewise regions/breakpoints
* ``numeric``     float scans and high-precision (mpmath) values
* ``witness``     counterexamples to convexity, confirmed at 50 and 100 digits
* ``convexity``   the three-way verdict per input and jointly
* ``smoothness``  kinks, jumps, continuity class
* ``sup``         sup |g| symbolically (limits, critical points) or numerically
* ``influence``   psi, its bound, redescending, Lipschitz and smoothness constants
* ``robustness``  efficiency and gross-error sensitivity at N(0, 1); tuning
* ``properties``  everything for one loss, under one deadline
* ``report``      text for ``lossgen show`` and the catalog table
"""
from .properties import DEFAULT_DEADLINE, analyze

__all__ = ["DEFAULT_DEADLINE", "analyze"]
