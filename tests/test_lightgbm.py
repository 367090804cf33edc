"""``lossgen.lightgbm.objective``: real LightGBM models trained with lossgen objectives.

Peers run here: LightGBM's built-in ``regression`` (L2), ``binary`` and ``huber``
objectives and its ``binary_logloss`` metric, with the same data, tree parameters and
the same initial score (``init_score`` on the Dataset).  lossgen's custom objectives must
reproduce the built-in predictions; pseudo-Huber and focal objectives must train.
"""
import itertools

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from boosting_data import compile_half_squared_error, labels, regression

import lossgen.lightgbm as ll

ROUNDS = 15
TREE = {"num_leaves": 8, "learning_rate": 0.3, "num_threads": 1, "deterministic": True,
        "force_col_wise": True, "verbosity": -1, "seed": 0}


@pytest.fixture(scope="module")
def half_squared_error(tmp_path_factory):
    return compile_half_squared_error(tmp_path_factory.mktemp("half_se"))


def _train(params, X, y, init, weight=None, feval=None):
    log = {}
    train = lgb.Dataset(X, y, weight=weight, init_score=np.full(len(y), init), free_raw_data=False)
    booster = lgb.train(params, train, ROUNDS, valid_sets=[train], valid_names=["train"], feval=feval,
                        callbacks=[lgb.record_evaluation(log)])
    return booster.predict(X, raw_score=True) + init, log.get("train", {})


def test_custom_squared_error_reproduces_builtin(half_squared_error):
    X, y, _ = regression()
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    base = float(np.average(y, weights=w))
    p_builtin, _ = _train({**TREE, "objective": "regression"}, X, y, base, w)
    obj = ll.objective(half_squared_error)
    p_custom, log = _train({**TREE, "objective": obj, "metric": "None"}, X, y, base, w, obj.metric)
    assert np.abs(p_builtin - p_custom).max() < 1e-6 * np.abs(p_builtin).max()   # float32 gradients
    assert np.std(p_builtin) > 0.5
    y32, w32 = y.astype(np.float32), w.astype(np.float32)        # a Dataset keeps float32 labels and weights
    assert log[obj.metric_name][-1] == pytest.approx(0.5 * np.average((p_custom - y32) ** 2, weights=w32), rel=1e-9)


def test_custom_logistic_reproduces_builtin_and_its_logloss():
    X, _, _ = regression(seed=1)
    y = labels(X, 1, 0.3)
    p0 = float(y.mean())
    init = float(np.log(p0 / (1 - p0)))
    m_builtin, log_builtin = _train({**TREE, "objective": "binary", "metric": "binary_logloss"}, X, y, init)
    obj = ll.objective("bce_with_logits")
    m_custom, log_custom = _train({**TREE, "objective": obj, "metric": "None"}, X, y, init, feval=obj.metric)
    assert np.abs(m_builtin - m_custom).max() < 1e-6
    np.testing.assert_allclose(log_custom[obj.metric_name], log_builtin["binary_logloss"], rtol=1e-6)
    assert log_builtin["binary_logloss"][-1] < 0.8 * log_builtin["binary_logloss"][0]


def test_huber_gets_lightgbm_huber_hessian_convention():
    """LightGBM's own huber objective uses Hessian 1 everywhere: lossgen's "auto" Hessian
    (exact 1 inside |r| <= delta, the weight 1 in the linear tails) reproduces it."""
    X, y, _ = regression(seed=2, outliers=0.1)
    base = float(np.median(y))
    p_builtin, _ = _train({**TREE, "objective": "huber", "alpha": 0.9}, X, y, base)
    obj = ll.objective("huber", delta=0.9)
    p_custom, _ = _train({**TREE, "objective": obj, "metric": "None"}, X, y, base)
    assert np.abs(p_builtin - p_custom).max() < 1e-9


def test_pseudo_huber_trains_and_resists_outliers():
    X, y, clean = regression(seed=5, outliers=0.1)
    base = float(np.median(y))
    obj = ll.objective("pseudo_huber", delta=1.0)
    p_robust, log = _train({**TREE, "objective": obj, "metric": "None"}, X, y, base, feval=obj.metric)
    curve = log[obj.metric_name]
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(curve)) and curve[-1] < 0.95 * curve[0]
    p_l2, _ = _train({**TREE, "objective": "regression"}, X, y, float(y.mean()))
    assert np.abs(p_robust - clean).mean() < 0.7 * np.abs(p_l2 - clean).mean()


def test_focal_objective_trains():
    from sklearn.metrics import roc_auc_score
    X, _, _ = regression(seed=7)
    y = labels(X, 7, 0.1)
    obj = ll.objective("focal", alpha=0.25, gamma=2.0)
    margin, log = _train({**TREE, "objective": obj, "metric": "None"}, X, y, 0.0, feval=obj.metric)
    curve = log[obj.metric_name]
    assert curve[-1] < 0.6 * curve[0]
    assert roc_auc_score(y, margin) > 0.85
    name, value, higher_is_better = obj.metric(margin, lgb.Dataset(X, y).construct())
    assert name == "lossgen-focal" and higher_is_better is False and value == pytest.approx(curve[-1], rel=1e-9)


def test_sklearn_interface():
    X, y, _ = regression(seed=4)
    obj = ll.objective("huber", delta=1.0)
    model = lgb.LGBMRegressor(objective=obj.sklearn, n_estimators=ROUNDS, num_leaves=8, learning_rate=0.3,
                              n_jobs=1, verbose=-1).fit(X, y)
    err = np.abs(model.predict(X) - y).mean()
    assert err < 0.5 * np.abs(y - np.median(y)).mean()
