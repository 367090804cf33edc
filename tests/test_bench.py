"""The CPU benchmark's code path at a tiny N (lossgen/bench.py, `lossgen bench`).

Nothing here is timed against a threshold: timings depend on the machine and its load.
What is checked: every peer runs, and agrees with lossgen (each peer's scaling and
parametrisation undone: sklearn's half losses, log link, 0/1 labels) to a tolerance;
the table, RESULTS.md update and CLI work; the per-call overhead probe runs.
"""
import math

import numpy as np
import pytest

from lossgen import bench
from lossgen.cli import main as cli_main

N = 2001


def _agree(r, peer, tol):
    dl, dg = r.agree[peer]
    assert math.isnan(dl) or dl < tol, (r.name, r.dtype, peer, dl)
    assert dg < tol, (r.name, r.dtype, peer, dg)


@pytest.mark.parametrize("name", ["huber", "mse", "quantile", "bce_with_logits", "logistic", "exponential",
                                  "poisson_nll", "gamma_deviance", "tweedie_deviance", "mae"])
def test_sklearn_peers_agree(name):
    pytest.importorskip("sklearn")
    r = bench.bench_one(name, "float64", N, repeat=1, peers=("sklearn",))
    assert r.sklearn is not None and r.sklearn_gh is not None and r.sklearn_label.startswith("sklearn")
    _agree(r, "sklearn", 1e-12)


@pytest.mark.parametrize("name", ["huber", "smooth_l1", "mae", "bce_with_logits", "poisson_nll", "logistic",
                                  "focal", "log_cosh", "hinge", "squared_hinge", "quantile", "gaussian_nll"])
def test_torch_peers_agree(name):
    pytest.importorskip("torch")
    r = bench.bench_one(name, "float64", N, repeat=1, peers=("torch",))
    assert r.torch is not None
    _agree(r, "torch", 1e-10)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_bench_one_measures_every_column(dtype, tol):
    r = bench.bench_one("huber", dtype, N, repeat=2)
    for col in ("lossgen", "lossgen_out", "grad_hess", "bandwidth", "bandwidth_gh", "numpy", "torch", "sklearn",
                "sklearn_gh"):
        v = getattr(r, col)
        assert v is not None and v > 0 and math.isfinite(v), col
    for peer in ("numpy", "torch", "sklearn"):
        _agree(r, peer, tol)
    labels = [t[0] for t in bench.targets(r)]
    assert labels[:3] == ["bandwidth/lossgen", "torch/lossgen", "sklearn/lossgen"]


def test_numpy_peer_for_several_differentiable_inputs():
    r = bench.bench_one("gaussian_nll", "float64", N, repeat=1, peers=("numpy",))
    _agree(r, "numpy", 1e-10)
    assert r.sklearn is None and r.torch is None


def test_bandwidth_kernels_move_the_data():
    a, b = np.arange(5.0), np.ones(5)
    out = np.empty(5)
    assert bench._move_2_1(a, b, out) == pytest.approx(5.0)
    np.testing.assert_array_equal(out, a - b)
    src, dst = np.stack([a, b, a]), np.empty((2, 5))
    assert bench._move_rows(src, dst) == pytest.approx(2 * a.sum() + 5)
    np.testing.assert_array_equal(dst[1], 2 * a + 1)


def test_benchmarkable_refuses_unknown_and_non_differentiable():
    assert "huber" in bench.benchmarkable() and "zero_one" not in bench.benchmarkable()
    with pytest.raises(ValueError, match="no_such_loss"):
        bench.benchmarkable(["no_such_loss"])
    with pytest.raises(ValueError, match="zero_one"):
        bench.benchmarkable(["zero_one"])


def test_write_results_keeps_the_rest_of_the_file(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## GPU\n\ngpu notes\n")
    rs = bench.run(["mse"], n=N, dtypes=("float64", "float32"), repeat=1, peers=(), log=None)
    bench.write_results(path, rs, "lossgen bench mse")
    first = path.read_text()
    assert "gpu notes" in first and bench.BEGIN in first and "| mse | float32 |" in first
    # a second run replaces the block, keeping text written around it
    path.write_text(first.replace(bench.END, bench.END + "\nhand-written notes"))
    bench.write_results(path, rs, "lossgen bench mse")
    second = path.read_text()
    assert second.count(bench.BEGIN) == 1 and "hand-written notes" in second and "gpu notes" in second


def test_cli_bench(tmp_path, capsys):
    path = tmp_path / "R.md"
    assert cli_main(["bench", "mse", "--n", "1000", "--repeat", "1", "--dtype", "float64", "--no-torch",
                     "--no-sklearn", "--write", str(path)]) == 0
    out = capsys.readouterr().out
    assert "mse" in out and "bw/lg" in out
    assert "`lossgen bench mse --n 1000 --repeat 1 --dtype float64 --no-torch --no-sklearn`" in path.read_text()
    assert cli_main(["bench", "not_a_loss", "--n", "10"]) == 1
    assert "not_a_loss" in capsys.readouterr().err


def test_call_overhead_probe():
    o = bench.call_overhead("huber", n=100, calls=10)
    assert set(o) == {"loss_grad", "loss_grad out=", "kernel alone", "wrapper alone", "wrapper alone, out="}
    assert all(v > 0 for v in o.values())


@pytest.mark.parametrize("name", ["poisson_nll", "tweedie_deviance", "focal", "bce_with_logits", "log_cosh"])
def test_numpy_peer_agrees_where_the_numeric_form_has_conditions(name):
    """The NumPy peer lambdifies the spec's numeric form: a Piecewise whose conditions
    hold a parameter (poisson_nll's full > 0) must evaluate with the parameter as given
    to the benchmark (it once failed in np.select with a scalar parameter)."""
    r = bench.bench_one(name, "float64", N, repeat=1, peers=("numpy",))
    _agree(r, "numpy", 1e-10)
