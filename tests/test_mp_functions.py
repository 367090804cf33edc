"""lossgen.primitives.mp: mpmath's exp, expm1, sinh and cosh by argument reduction at
huge arguments.  They must give mpmath's own values (to the last bit of the working
precision, at the precisions the ground truth uses), so the truth does not change."""
import mpmath
import pytest

from lossgen.primitives import mp

ARGS = ["-1e300", "1e300", "-7.3e150", "2.5e20", "-1e5", "1025.5", "-1024.25", "709.9", "-745.1", "0.3", "0"]


@pytest.mark.parametrize("dps", [50, 200, 650, 1600])
@pytest.mark.parametrize("name", ["exp", "expm1", "sinh", "cosh"])
def test_same_values_as_mpmath(name, dps):
    ours, theirs = getattr(mp, name), getattr(mpmath, name)
    with mpmath.workdps(dps):
        for s in ARGS:
            x = mpmath.mpf(s) * (1 + mpmath.mpf(1) / 7)
            a, b = ours(x), theirs(x)
            assert a == b or abs(a - b) <= abs(b) * mpmath.mpf(2) ** (1 - mpmath.mp.prec), (name, dps, s, a, b)


def test_non_finite_arguments():
    assert mp.exp(mpmath.inf) == mpmath.inf and mp.exp(-mpmath.inf) == 0
    assert mpmath.isnan(mp.exp(mpmath.nan))
    assert mp.sinh(-mpmath.inf) == -mpmath.inf and mp.cosh(-mpmath.inf) == mpmath.inf
