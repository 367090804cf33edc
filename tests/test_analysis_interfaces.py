"""The analysis behind its interfaces: `lossgen analyze`, `lossgen list --properties`,
`lossgen show`, `Loss.properties`; and the build path never importing it."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types

import pytest

from lossgen.catalog import spec_for
from lossgen.cli import main
from lossgen.paths import specs_dir
from lossgen.runtime.loss import Loss

KEYS = {"name", "convex", "convexity", "differentiable", "kinks", "continuity", "influence_bounded",
        "influence_bound", "influence_bound_value", "influence_method", "redescending", "lipschitz",
        "smoothness", "efficiency", "gross_error_sensitivity", "seconds"}


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, out


def test_analyze_json_has_the_contract_keys(capsys):
    code, out = run(capsys, "analyze", "huber", "--json")
    assert code == 0
    p = json.loads(out)
    assert KEYS <= set(p)
    assert p["name"] == "huber" and p["convex"] is True
    assert set(p["convexity"]) >= {"verdict", "method", "witness"}
    assert p["influence_bound"] == "delta" and p["influence_bound_value"] == 1.0
    assert p["differentiable"] is True and p["continuity"] == "C1"


def test_analyze_param_and_efficiency(capsys):
    code, out = run(capsys, "analyze", "huber", "--efficiency", "0.95", "--json")
    p = json.loads(out)
    assert p["tuning"]["value"] == pytest.approx(1.345, abs=5e-4)
    code, out = run(capsys, "analyze", "huber", "--param", "delta=1.345", "--json")
    p = json.loads(out)
    assert p["fixed"] == {"delta": 1.345} and p["efficiency"] == pytest.approx(0.95, abs=5e-4)
    assert p["influence_bound"] == "269/200"


def test_analyze_unbounded_is_oo_in_json(capsys):
    _, out = run(capsys, "analyze", "mse", "--json")
    p = json.loads(out)
    assert p["influence_bound"] == "oo" and p["influence_bound_value"] == "oo" and p["influence_bounded"] is False
    assert p["gross_error_sensitivity"] == "oo" and p["efficiency"] == pytest.approx(1.0)


def test_analyze_text_and_bad_param(capsys):
    code, out = run(capsys, "analyze", "cauchy")
    assert code == 0 and "witness" in out and "c/2" in out
    assert main(["analyze", "cauchy", "--param", "nope=1"]) == 1


def test_list_properties_table(capsys, tmp_path, monkeypatch):
    for name in ("mse", "huber", "tukey"):
        shutil.copy(specs_dir() / f"{name}.toml", tmp_path / f"{name}.toml")
    monkeypatch.setenv("LOSSGEN_SPECS_DIR", str(tmp_path))
    code, out = run(capsys, "list", "--properties", "--jobs", "2")
    assert code == 0
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.split() and ln.split()[0] in ("mse", "huber", "tukey")}
    assert lines["huber"].split()[1] == "yes" and "delta" in lines["huber"]
    assert lines["tukey"].split()[1] == "no" and "redescending" in lines["tukey"]
    assert "3 losses: 2 proved convex, 1 disproved" in out


def test_show_has_a_properties_section(capsys):
    pytest.importorskip("lossgen.rewrite")
    code, out = run(capsys, "show", "mae")
    assert code == 0 and "Properties" in out and "kink at pred - target = 0" in out


def test_loss_properties_is_lazy_and_cached():
    module = types.SimpleNamespace(NAME="mse", INPUTS=(("pred", "prediction", True), ("target", "target", False)),
                                   PARAMS=(), DEFAULT_REDUCTION="mean", DIFFERENTIABLE=True)
    loss = Loss(module, spec_for("mse"))
    assert loss._properties is None
    p = loss.properties
    assert p["convex"] is True and p["influence_bound"] == "oo"
    assert loss.properties is p


def test_build_path_does_not_import_the_analysis():
    code = "import sys, lossgen, lossgen.build, lossgen.catalog; print('lossgen.analysis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.slow
def test_every_catalog_loss_is_analysed_within_30_s(catalog_name):
    from lossgen.analysis import analyze
    p = analyze(catalog_name)
    assert KEYS <= set(p)
    assert p["seconds"] < 30
    assert p["convexity"]["verdict"] in ("proved", "disproved", "unknown")
    assert (p["convex"] is None) == (p["convexity"]["verdict"] == "unknown")
    if p["convexity"]["verdict"] == "disproved":
        assert p["convexity"]["witness"]["point"]
    json.dumps(p, allow_nan=False)      # strict JSON: no NaN/Infinity
