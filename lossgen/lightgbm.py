r"""LightGBM: ``lossgen.lightgbm.objective(name_or_spec_path, hessian="auto", **params)``.

The returned :class:`Objective` is LightGBM's custom objective and carries the matching
metric::

    obj = lossgen.lightgbm.objective("focal", alpha=0.25, gamma=2.0)
    booster = lgb.train({"objective": obj, "metric": "None"}, train_set, 100,
                        valid_sets=[valid_set], feval=obj.metric)
    booster.predict(X)                                  # raw scores, the loss's first input

* ``obj(preds, train_data) -> (grad, hess)``: per-sample derivatives at the raw scores
  (LightGBM passes raw scores to custom objectives), times the Dataset weights.
* ``obj.metric(preds, eval_data) -> (name, value, is_higher_better=False)``.
* ``obj.sklearn(y_true, y_pred, weight=None)`` for ``LGBMRegressor(objective=...)``.

Zero-curvature losses (absolute, quantile, hinge, Huber's tails) get the sample weight as
Hessian, as LightGBM's own ``regression_l1``/``quantile``/``huber`` objectives do; see
:mod:`lossgen.integrations.boosting`.  LightGBM starts a custom objective from raw score
0 (``boost_from_average`` applies to built-in objectives only); pass ``init_score`` to the
Dataset to start elsewhere.
"""
from __future__ import annotations

from .integrations.boosting import BoostingLoss


class Objective(BoostingLoss):
    """A lossgen loss as LightGBM's (objective, feval) pair: ``obj(preds, train_data)``."""

    library = "lightgbm"

    def metric(self, preds, eval_data):
        """LightGBM's ``feval``: (name, weighted mean loss, is_higher_better=False)."""
        return self.metric_name, self.data_metric(preds, eval_data), False

    def sklearn(self, y_true, y_pred, weight=None):
        """The objective in the signature of ``LGBMRegressor(objective=...)``."""
        return self.grad_hess(y_pred, y_true, weight)


def objective(name_or_spec_path, hessian: str = "auto", **params) -> Objective:
    """LightGBM's custom objective (``params["objective"]``) for a lossgen loss; ``.metric`` is its ``feval``."""
    return Objective(name_or_spec_path, hessian, **params)


__all__ = ["Objective", "objective"]
