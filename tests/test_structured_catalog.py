"""The structured catalog: every spec in specs/structured/ has a current generated module in
generated/structured/, reproducible byte for byte, importable with the documented API;
float32 inputs give float32 results."""
import numpy as np
import pytest

import lossgen
from lossgen.build import default_out_dir, generate, header_status
from lossgen.paths import generated_dir, specs_dir
from lossgen.spec import load_spec

SPECS = sorted((specs_dir() / "structured").glob("*.toml"))


def test_the_structured_catalog_lists_every_spec():
    assert lossgen.structured_catalog() == [p.stem for p in SPECS]
    assert len(SPECS) >= 19
    assert not set(lossgen.structured_catalog()) & set(lossgen.catalog())


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_generated_module_is_current_and_reproducible(path):
    spec = load_spec(path)
    target = generated_dir() / "structured" / f"{spec.name}.py"
    assert default_out_dir(path) == generated_dir() / "structured"
    assert header_status(target, spec.source_sha256) is None
    assert generate(path).files[f"{spec.name}.py"] == target.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [p.stem for p in SPECS])
def test_float32_in_float32_out(name):
    from structured_inputs import random_inputs
    L = lossgen.get(name)
    arrays = random_inputs(name, L.module, 16, 5, np.random.default_rng(2), dtype=np.float32)
    loss, grads = L.loss_grad(*arrays)
    ref_loss, ref_grads = L.loss_grad(*[a.astype(np.float64) if a.dtype == np.float32 else a for a in arrays])
    assert np.asarray(loss).dtype == np.float32
    grads = grads if isinstance(grads, tuple) else (grads,)
    ref_grads = ref_grads if isinstance(ref_grads, tuple) else (ref_grads,)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, ref_grads):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)


def test_build_and_check_cover_the_structured_catalog(tmp_path):
    from lossgen.build import _stale_structured, build_one, structured_spec_paths
    assert structured_spec_paths() == SPECS
    assert _stale_structured(generated_dir() / "structured", full=False) == []
    res = build_one(SPECS[0])                      # current: left as it is, no certificate needed
    assert res.status == "unchanged" and res.error is None
    problems = _stale_structured(tmp_path, full=False)
    assert len(problems) == len(SPECS) and all(why == "missing" for _, why in problems)
