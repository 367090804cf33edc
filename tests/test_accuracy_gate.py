"""The gate of the accuracy certificate (issue 3): every catalog kernel, float64 and
float32, against mpmath on the adversarial grid (magnitudes 1e-300..1e300 of both
signs, kinks and their float neighbours, domain edges, ±0, arguments near exp's
overflow), within its budget: 8 ulp for values and gradients, 16 for Hessians, 4 in
float32, and no inf/NaN where the truth is finite and representable.

The certificate measures the point functions, rounded to the dtype; the array kernels
must store exactly those values (``test_kernels_store_what_the_certificate_measured``).
It measures afresh (the figures in the modules' headers are the same measurement made
at build time; ``lossgen check`` sees that they certify the current code).  Kernels
that do not meet their budget yet are listed in KNOWN_GAPS with the reason; they are
strict xfails, so one that starts to pass fails here until it is taken off the list.
"""
import numpy as np
import pytest

import lossgen
from lossgen.certificate import budget
from lossgen.verify.accuracy import adversarial_grid, certify, point_outputs

#: (loss, output, dtype) -> why it is over budget today.
KNOWN_GAPS: dict = {}


def _reports(name, cache={}):
    if name not in cache:
        cache[name] = certify(lossgen.get(name))
    return cache[name]


def _cases():
    for name in lossgen.catalog():
        yield name


@pytest.mark.parametrize("name", list(_cases()))
def test_catalog_kernel_within_budget(name):
    over = []
    for r in _reports(name):
        key = (name, r.output, r.dtype)
        bad = r.nonfinite or r.max_ulp > budget(r.output, r.dtype)
        if key in KNOWN_GAPS:
            continue
        if bad:
            over.append(f"{r.output}/{r.dtype}: {r.max_ulp:.3g} ulp (budget {budget(r.output, r.dtype):g}), "
                        f"{r.nonfinite} non-finite; worst at {r.worst_point}"
                        + (f"; non-finite at {r.nonfinite_points[:2]}" if r.nonfinite else ""))
        assert r.points > 0, f"{name} {r.output}/{r.dtype}: the certificate measured no point"
    assert not over, f"{name}: " + "; ".join(over)


@pytest.mark.parametrize("gap", sorted(KNOWN_GAPS), ids=lambda g: "/".join(g))
def test_known_gaps_are_still_gaps(gap):
    """Strict: a gap that closes must be taken off KNOWN_GAPS (and the note updated)."""
    name, output, dtype = gap
    [r] = [r for r in _reports(name) if (r.output, r.dtype) == (output, dtype)]
    if r.nonfinite or r.max_ulp > budget(output, dtype):
        pytest.xfail(KNOWN_GAPS[gap])
    pytest.fail(f"{name} {output}/{dtype} now meets its budget ({r.max_ulp:.3g} ulp): remove it from KNOWN_GAPS")


def test_certificate_in_every_module_header():
    from lossgen.build import certificate_status
    from lossgen.paths import generated_dir
    for name in lossgen.catalog():
        assert certificate_status(generated_dir() / f"{name}.py") is None, name


@pytest.mark.parametrize("name", list(_cases()))
def test_kernels_store_what_the_certificate_measured(name):
    """The parallel ``reduction="none"`` kernels, float64 and float32, write bit for bit
    the point functions' values the certificate measures (NaN where they give NaN)."""
    loss = lossgen.get(name)
    spec = loss.spec
    dins = spec.differentiable_inputs
    for dt in (np.float64, np.float32):
        cols, _, _ = adversarial_grid(spec, dt)
        expected = point_outputs(loss, cols, dt)
        with np.errstate(all="ignore"):
            got = {"loss": loss.loss(*cols, reduction="none")}
            if dins:
                g = loss.grad(*cols, reduction="none")
                g = (g,) if len(dins) == 1 else g
                h = loss.hess_full(*cols, reduction="none")
                for ia, a in enumerate(dins):
                    got[f"d/d{a.name}"] = g[ia]
                    for ib in range(ia, len(dins)):
                        got[f"d2/d{a.name}d{dins[ib].name}"] = h[ia][ib]
        assert sorted(got) == sorted(expected)
        for label, values in got.items():
            assert values.dtype == np.dtype(dt), (name, label)
            same = (values == expected[label]) | (np.isnan(values) & np.isnan(expected[label]))
            bad = np.flatnonzero(~same)
            assert not bad.size, (f"{name} {label}/{np.dtype(dt).name}: kernel != point function at "
                                  f"{[tuple(float(c[j]) for c in cols) for j in bad[:3]]}: "
                                  f"{values[bad[:3]]} vs {expected[label][bad[:3]]}")
