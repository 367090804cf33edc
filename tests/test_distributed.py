"""The lowering's ``distributed`` candidate (lossgen/rewrite/forms.py): products distributed over compound sums,
with linear sums (residuals, ``1 - p``) held whole.  Checked against SymPy (identity)
and mpmath (values where the form as derived overflows in an intermediate)."""
import importlib
import math

import mpmath
import numpy as np
import sympy as sp

from lossgen.rewrite.compensated import Compensated, evaluate_marked
from lossgen.rewrite.forms import distributed
from lossgen.verify.floats import float_function
from lossgen.verify.ulps import ulp_error

lower = importlib.import_module("lossgen.rewrite.lower")

pred, target, v, p = sp.symbols("pred target v p", positive=True)
r = pred - target


def test_distributed_is_an_identity_and_keeps_linear_sums():
    for e in [(1 - r**2 / v) / (2 * v), 2 * pred**(-p - 1) * (p * target + (1 - p) * pred),
              (r * (r + v) + 1) / v**3]:
        d = distributed(e)
        assert sp.simplify(d - e) == 0
        assert isinstance(d, sp.Add)
        # the residual is never expanded into pred**2 - 2*pred*target + target**2
        assert not d.has(pred**2) and not d.has(target**2)


def test_distributed_merges_powers_of_one_base():
    d = distributed(2 * pred**(-p - 1) * (p * target + (1 - p) * pred))
    assert d.has(pred**(-p)) and not d.has(pred * pred**(-p - 1))


def test_distributed_compensated_form_stays_in_range():
    """d/dv of the Gaussian NLL at r = 1e200, v = 1e50: r**2/v overflows, the result
    1/(2v) - r**2/(2v**2) ~ -5e299 does not; as derived the form gives -inf."""
    e = (1 - r**2 / v) / (2 * v)
    args = (pred, target, v)
    point = [np.array([1e200]), np.array([-0.5]), np.array([1e50])]
    truth = sp.lambdify(args, e, "mpmath")(*[mpmath.mpf(float(c[0])) for c in point])
    assert math.isfinite(float(truth))
    as_derived = float_function(e, args)(*point)[0]
    assert not math.isfinite(as_derived)
    value = evaluate_marked(Compensated(distributed(e)), args, point)[0]
    assert ulp_error(float(value), truth) <= 1.0


def test_probe_grid_has_large_pair_rows():
    """The rows where (1 - r**2/v)/(2v) overflows but the result does not."""
    import lossgen
    spec = lossgen.compile("specs/gaussian_nll.toml").spec
    pred_col, _, var_col = lower.probe_grid(spec)[:3]
    assert np.any((np.abs(pred_col) >= 1e200) & (var_col >= 1e50) & (var_col <= 1e100))
