"""``lossgen.xgboost.objective``: real XGBoost models trained with lossgen objectives.

Peers run here: XGBoost's built-in ``reg:squarederror``, ``binary:logistic`` and
``reg:pseudohubererror`` objectives and its ``logloss`` metric, with the same data, tree
parameters and base score.  lossgen's custom objectives must reproduce their
predictions (to float32 rounding of the gradients, which XGBoost stores in float32),
the focal and quantile objectives must train, and the approximate-Hessian convention
for zero-curvature losses is pinned.
"""
import itertools

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")

from boosting_data import compile_half_squared_error, labels, regression

import lossgen.xgboost as lx
from lossgen.errors import LossgenError, NotDifferentiableError

ROUNDS = 15
TREE = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0}


@pytest.fixture(scope="module")
def half_squared_error(tmp_path_factory):
    return compile_half_squared_error(tmp_path_factory.mktemp("half_se"))


def _train(params, dtrain, obj=None, metric=None):
    log = {}
    booster = xgb.train(params, dtrain, ROUNDS, obj=obj, custom_metric=metric, evals=[(dtrain, "train")],
                        evals_result=log, verbose_eval=False)
    return booster, log["train"]


def test_custom_squared_error_reproduces_builtin(half_squared_error):
    X, y, _ = regression()
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    d = xgb.DMatrix(X, label=y, weight=w)
    base = float(np.average(y, weights=w))
    builtin, _ = _train({**TREE, "objective": "reg:squarederror", "base_score": base}, d)
    obj = lx.objective(half_squared_error)
    custom, log = _train({**TREE, "base_score": base, "disable_default_eval_metric": 1}, d, obj, obj.metric)
    p_builtin = builtin.predict(d, output_margin=True)
    p_custom = custom.predict(d, output_margin=True)
    assert np.abs(p_builtin - p_custom).max() < 1e-5 * np.abs(p_builtin).max()
    assert np.std(p_builtin) > 0.5                                   # the model learned something
    # the metric is the weighted mean loss at the raw scores: half the weighted MSE
    # (XGBoost's evaluation log keeps 6 significant digits)
    truth = 0.5 * np.average((p_custom.astype(np.float64) - y.astype(np.float32)) ** 2, weights=w.astype(np.float32))  # DMatrix keeps float32
    name, value = obj.metric(p_custom, d)
    assert name == "lossgen-half_squared_error" and value == pytest.approx(truth, rel=1e-12)
    assert log[obj.metric_name][-1] == pytest.approx(truth, rel=1e-5, abs=1e-6)


def test_custom_logistic_reproduces_builtin_and_its_logloss():
    X = np.random.default_rng(1).standard_normal((600, 4))
    y = labels(X, 1, 0.3)
    d = xgb.DMatrix(X, label=y)
    p0 = float(y.mean())
    builtin, log_builtin = _train({**TREE, "objective": "binary:logistic", "base_score": p0,
                                   "eval_metric": "logloss"}, d)
    obj = lx.objective("bce_with_logits")
    custom, log_custom = _train({**TREE, "base_score": float(np.log(p0 / (1 - p0))),
                                 "disable_default_eval_metric": 1}, d, obj, obj.metric)
    m_builtin = builtin.predict(d, output_margin=True)
    m_custom = custom.predict(d, output_margin=True)
    assert np.abs(m_builtin - m_custom).max() < 1e-4
    np.testing.assert_allclose(log_custom[obj.metric_name], log_builtin["logloss"], rtol=2e-5)  # 6 digits
    assert log_builtin["logloss"][-1] < 0.8 * log_builtin["logloss"][0]


def test_pseudo_huber_reproduces_builtin_and_resists_outliers():
    X, y, clean = regression(outliers=0.1, seed=5)
    d = xgb.DMatrix(X, label=y)
    base = float(np.median(y))
    builtin, _ = _train({**TREE, "objective": "reg:pseudohubererror", "huber_slope": 1.5, "base_score": base}, d)
    obj = lx.objective("pseudo_huber", delta=1.5)
    custom, log = _train({**TREE, "base_score": base, "disable_default_eval_metric": 1}, d, obj, obj.metric)
    p_custom = custom.predict(d, output_margin=True)
    assert np.abs(builtin.predict(d, output_margin=True) - p_custom).max() < 1e-4
    curve = log[obj.metric_name]
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(curve)) and curve[-1] < 0.95 * curve[0]
    squared, _ = _train({**TREE, "objective": "reg:squarederror", "base_score": float(y.mean())}, d)
    err_robust = np.abs(p_custom - clean).mean()
    err_squared = np.abs(squared.predict(d) - clean).mean()
    assert err_robust < 0.7 * err_squared, (err_robust, err_squared)


def test_focal_objective_trains():
    from sklearn.metrics import roc_auc_score
    X = np.random.default_rng(7).standard_normal((600, 4))
    y = labels(X, 7, 0.1)
    d = xgb.DMatrix(X, label=y)
    obj = lx.objective("focal", alpha=0.25, gamma=2.0)
    booster, log = _train({**TREE, "base_score": 0.0, "disable_default_eval_metric": 1}, d, obj, obj.metric)
    curve = log[obj.metric_name]
    assert curve[-1] < 0.6 * curve[0]
    assert roc_auc_score(y, booster.predict(d, output_margin=True)) > 0.85


def test_quantile_objective_trains_to_its_quantile_with_the_approximate_hessian():
    X, y, _ = regression(seed=9)
    d = xgb.DMatrix(X, label=y)
    obj = lx.objective("quantile", tau=0.9)
    booster = xgb.train({**TREE, "base_score": float(np.median(y)), "disable_default_eval_metric": 1}, d, 60, obj=obj)
    coverage = np.mean(y <= booster.predict(d, output_margin=True))
    assert abs(coverage - 0.9) < 0.05, coverage


def test_hessian_conventions():
    rng = np.random.default_rng(11)
    # DMatrix stores labels and weights as float32: draw them as float32 values
    raw = rng.standard_normal(50)
    label = rng.standard_normal(50).astype(np.float32).astype(np.float64)
    w = rng.uniform(0.5, 2, 50).astype(np.float32).astype(np.float64)
    d = xgb.DMatrix(np.zeros((50, 1)), label=label, weight=w)
    g, h = lx.objective("mae")(raw, d)                  # |r|: zero curvature everywhere
    np.testing.assert_array_equal(g, w * np.sign(raw - label))
    np.testing.assert_array_equal(h, w)                 # the sample weight, as reg:absoluteerror
    g, h = lx.objective("huber", delta=0.5)(raw, d)     # exact 1 inside, the weight in the tails
    np.testing.assert_allclose(g, w * np.clip(raw - label, -0.5, 0.5), rtol=1e-15)
    np.testing.assert_array_equal(h, w)
    _, h = lx.objective("cauchy", c=1.0, hessian="exact")(raw, d)    # non-convex: negative where |r| > c
    assert (h < 0).any()
    _, h_auto = lx.objective("cauchy", c=1.0)(raw, d)
    np.testing.assert_array_equal(h_auto, np.where(h > 0, h, w))
    _, h = lx.objective("bce_with_logits", hessian="constant")(raw, d)
    np.testing.assert_array_equal(h, w)
    g, h = lx.objective("bce_with_logits").sklearn(label, raw)        # the scikit-learn signature
    p = 1 / (1 + np.exp(-raw))
    np.testing.assert_allclose(h, p * (1 - p), rtol=1e-13)


def test_refusals_name_the_problem():
    with pytest.raises(LossgenError, match=r"needs a loss of \(raw score, label\).*policy_chosen_logp"):
        lx.objective("dpo")
    with pytest.raises(NotDifferentiableError, match="zero_one"):
        lx.objective("zero_one")
    with pytest.raises(ValueError, match="hessian must be one of"):
        lx.objective("mae", hessian="fisher")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) slope"):
        lx.objective("pseudo_huber", slope=1.0)
    with pytest.raises(ValueError, match=r"delta=0.0 violates"):
        lx.objective("pseudo_huber", delta=0.0)
    d = xgb.DMatrix(np.zeros((4, 1)), label=np.zeros(4))
    with pytest.raises(ValueError, match=r"8 raw scores but 4 labels"):
        lx.objective("mse")(np.zeros(8, np.float32), d)


def test_sklearn_interface_with_sample_weights(half_squared_error):
    X, y, _ = regression(seed=13)
    w = np.random.default_rng(13).uniform(0.5, 2.0, len(y))
    base = float(np.average(y, weights=w))
    common = {"n_estimators": ROUNDS, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1, "tree_method": "hist",
              "base_score": base}
    builtin = xgb.XGBRegressor(objective="reg:squarederror", **common).fit(X, y, sample_weight=w)
    custom = xgb.XGBRegressor(objective=lx.objective(half_squared_error).sklearn, **common).fit(X, y, sample_weight=w)
    p_builtin, p_custom = builtin.predict(X, output_margin=True), custom.predict(X, output_margin=True)
    assert np.abs(p_builtin - p_custom).max() < 1e-5 * np.abs(p_builtin).max()
