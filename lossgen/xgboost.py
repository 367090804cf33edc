r"""XGBoost: ``lossgen.xgboost.objective(name_or_spec_path, hessian="auto", **params)``.

The returned :class:`Objective` is XGBoost's custom objective and carries the matching
metric::

    obj = lossgen.xgboost.objective("pseudo_huber", delta=1.0)
    booster = xgb.train(params, dtrain, num_boost_round=100, obj=obj, custom_metric=obj.metric,
                        evals=[(dvalid, "valid")])
    booster.predict(dtest, output_margin=True)         # raw scores, the loss's first input

* ``obj(predt, dtrain) -> (grad, hess)``: per-sample derivatives of the loss at the raw
  scores (XGBoost passes margins to custom objectives), times the DMatrix weights.
* ``obj.metric(predt, dtrain) -> (name, value)``: the weighted mean loss.
* ``obj.sklearn(y_true, y_pred, sample_weight=None)`` for ``XGBRegressor(objective=...)``.

The Hessian convention for losses with zero curvature (absolute, quantile, hinge, ...)
is that of XGBoost's own ``reg:absoluteerror`` / ``reg:quantileerror``: the sample weight;
see :mod:`lossgen.integrations.boosting`.  With a custom objective XGBoost applies no
link function: ``base_score`` is a raw score, and predictions are raw scores
(``output_margin=True`` makes that explicit).
"""
from __future__ import annotations

from .integrations.boosting import BoostingLoss


class Objective(BoostingLoss):
    """A lossgen loss as XGBoost's (objective, metric) pair: ``obj(predt, dtrain)``."""

    library = "xgboost"

    def metric(self, predt, dtrain):
        """XGBoost's ``custom_metric``: (name, weighted mean loss)."""
        return self.metric_name, self.data_metric(predt, dtrain)

    def sklearn(self, y_true, y_pred, sample_weight=None):
        """The objective in the signature of ``XGBRegressor(objective=...)``."""
        return self.grad_hess(y_pred, y_true, sample_weight)


def objective(name_or_spec_path, hessian: str = "auto", **params) -> Objective:
    """XGBoost's custom objective (``obj=``) for a lossgen loss; ``.metric`` is its ``custom_metric``."""
    return Objective(name_or_spec_path, hessian, **params)


__all__ = ["Objective", "objective"]
