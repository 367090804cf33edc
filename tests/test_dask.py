"""``lossgen.dask`` on a ``distributed.LocalCluster`` of two worker processes, against
the single-machine :class:`lossgen.Loss` result.

Elementwise outputs (reduction "none", gradients, Hessians, with the "mean" scale) are
computed per element by the same kernel with the same scale: they must be bitwise
equal.  Reduced losses differ only in the order of float64 additions: relative 1e-13
(float64) and the float32 rounding of the result (float32).  The work must really be
spread over both workers, and a user spec (not in the catalog) must reach the workers
as bytes, with no shared file.
"""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask

import lossgen
import lossgen.dask as ld
from lossgen.scaffold import scaffold

N, CHUNK = 40_001, 5_000


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261122)
    return {"x": 3 * rng.standard_normal(N), "y": rng.standard_normal(N), "w": rng.uniform(0.1, 2.0, N),
            "v": rng.uniform(0.2, 3.0, N)}


def _d(a, chunks=CHUNK):
    return da.from_array(a, chunks=chunks)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_huber_loss_grad_hess_equal_single_machine(client, data, reduction):
    x, y, w = data["x"], data["y"], data["w"]
    h = lossgen.get("huber")
    got = ld.loss("huber", _d(x), _d(y, 7_000), weight=_d(w, 3_000), reduction=reduction, delta=0.8).compute()
    want = h.loss(x, y, weight=w, reduction=reduction, delta=0.8)
    if reduction == "none":
        np.testing.assert_array_equal(got, want)
    else:
        assert got.dtype == want.dtype and got == pytest.approx(want, rel=1e-13, abs=0)
    g, hs = ld.grad_hess("huber", _d(x), _d(y), weight=_d(w), reduction=reduction, delta=0.8)
    g, hs = dask.compute(g, hs)
    g_want, h_want = h.grad_hess(x, y, weight=w, reduction=reduction, delta=0.8)
    np.testing.assert_array_equal(g, g_want)
    np.testing.assert_array_equal(hs, h_want)
    np.testing.assert_array_equal(ld.grad("huber", _d(x), _d(y), reduction=reduction, delta=0.8).compute(),
                                  h.grad(x, y, reduction=reduction, delta=0.8))


def test_two_differentiable_inputs_and_float32(client, data):
    x, y, v = (data[k].astype(np.float32) for k in "xyv")
    L = lossgen.get("gaussian_nll")
    (gp, gv), (hp, hv) = ld.grad_hess("gaussian_nll", _d(x), _d(y), _d(v), reduction="mean")
    got = dask.compute(gp, gv, hp, hv)
    (wgp, wgv), (whp, whv) = L.grad_hess(x, y, v, reduction="mean")
    for a, b in zip(got, (wgp, wgv, whp, whv)):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    total = ld.loss("gaussian_nll", _d(x), _d(y), _d(v), reduction="sum").compute()
    assert total.dtype == np.float32
    assert total == pytest.approx(L.loss(x, y, v, reduction="sum"), rel=2 ** -23)


def test_work_is_spread_over_both_workers(client, data):
    g = ld.grad("huber", _d(data["x"]), _d(data["y"])).persist()
    distributed.wait(g)
    holders = {w for ws in client.who_has(g).values() for w in ws}
    assert len(holders) == 2, holders
    # another call is another graph: keys derive from the arguments, never reuse g's blocks
    other = ld.grad("huber", _d(data["x"]), _d(-data["y"]))
    assert other.name != g.name
    np.testing.assert_array_equal(other.compute(), lossgen.get("huber").grad(data["x"], -data["y"]))
    # a tree reduction over many blocks equals the single-machine sum to rounding
    s = ld.loss("huber", _d(data["x"], 1_000), _d(data["y"], 1_000), reduction="sum", split_every=3).compute()
    assert s == pytest.approx(lossgen.get("huber").loss(data["x"], data["y"], reduction="sum"), rel=1e-13)


def test_user_spec_reaches_the_workers_as_bytes(client, data, tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSGEN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "scaled_cauchy.toml"
    path.write_text(scaffold("scaled_cauchy", "c**2/2*log(1 + ((pred - target)/c)**2)", {"c": 2.0}))
    mine = lossgen.compile(path)
    got = ld.grad(mine, _d(data["x"]), _d(data["y"]), reduction="sum", c=1.5).compute()
    np.testing.assert_array_equal(got, mine.grad(data["x"], data["y"], reduction="sum", c=1.5))
    path.unlink()                           # workers never read the file: they get its bytes
    got = ld.loss(mine, _d(data["x"]), _d(data["y"]), reduction="none").compute()
    np.testing.assert_array_equal(got, mine.loss(data["x"], data["y"], reduction="none"))


def test_bad_input_is_refused_naming_the_argument(data):
    x = _d(data["x"])
    with pytest.raises(ValueError, match=r"'target' has shape \(10,\); expected \(40001,\)"):
        ld.loss("huber", x, da.zeros(10))
    with pytest.raises(TypeError, match=r"'pred' has dtype int64"):
        ld.loss("huber", da.arange(10), da.zeros(10))
    with pytest.raises(TypeError, match=r"'weight' has dtype int64"):
        ld.grad("huber", x, x, weight=da.ones(N, dtype=np.int64, chunks=CHUNK))
    with pytest.raises(TypeError, match=r"missing input array 'target'"):
        ld.grad("huber", x)
    with pytest.raises(ValueError, match=r"delta=-1.0 violates"):
        ld.grad_hess("huber", x, x, delta=-1.0)
    with pytest.raises(lossgen.NotDifferentiableError, match="zero_one"):
        ld.grad("zero_one", x, x)
