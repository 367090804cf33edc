r"""What gradient boosting needs from a loss: per-sample gradient and Hessian, and a metric.

A boosting round fits a tree to the second-order expansion of
:math:`\sum_i w_i\, l(F_i + f(x_i), y_i)` around the current raw scores :math:`F`:
it needs :math:`g_i = w_i\, \partial l/\partial F` and :math:`h_i = w_i\, \partial^2 l/\partial F^2`
for every sample, and puts :math:`-\sum g / (\sum h + \lambda)` in each leaf.  The loss
must have exactly two inputs: the raw score (its one differentiable input, e.g. ``pred``
or a logit) and the label.

**Zero curvature.**  Where :math:`h_i \le 0` — everywhere for absolute, quantile (pinball)
and hinge losses, in Huber's linear tails, and wherever a non-convex loss curves down —
a Newton step is undefined (or goes the wrong way).  ``hessian="auto"`` (the default)
keeps the exact :math:`h_i` where it is positive and puts the constant :math:`w_i`
(1 per unit of sample weight) elsewhere.  This is the convention of the established
libraries: LightGBM's ``regression_l1``, ``quantile`` and ``huber`` objectives and
XGBoost's ``reg:absoluteerror`` and ``reg:quantileerror`` use the sample weight as the
Hessian, so a tree is grown on the (weighted) gradient alone.  Both libraries then *refit
the leaf values* (to a weighted median / quantile of the residuals: LightGBM since its
pull request 1199, XGBoost's "adaptive" trees since 1.7); custom objectives cannot do that,
so with lossgen's objectives a leaf of an L1-type loss moves by the learning rate times the
mean sign of its residuals instead.  ``hessian="exact"`` passes the derived Hessian
unchanged; ``hessian="constant"`` uses :math:`w_i` everywhere (a first-order method).

**Metric.**  The weighted mean :math:`\sum_i w_i l_i / \sum_i w_i` of the loss at the raw
scores (the libraries hand custom metrics raw scores when the objective is custom).
"""
from __future__ import annotations

import numpy as np

from ..errors import LossgenError, NotDifferentiableError
from ..runtime.arguments import bind_params
from .resolve import LossRef, resolve_loss

HESSIAN_MODES = ("auto", "exact", "constant")


class BoostingLoss:
    """A loss with fixed parameters, computing (g, h) and the metric on flat float64 arrays.

    Called as ``obj(preds, data)`` it is a custom objective of XGBoost (``data`` a
    DMatrix) and of LightGBM (a Dataset): both have ``get_label()`` and ``get_weight()``.
    Subclasses add each library's metric and scikit-learn signatures."""

    library = "boosting"

    def __init__(self, name_or_spec_path, hessian: str = "auto", **params):
        where = f"lossgen.{self.library}.objective"
        loss = resolve_loss(name_or_spec_path, where)
        where = f"{where}({loss.name!r})"
        if not loss.differentiable:
            raise NotDifferentiableError(f"{where}: '{loss.name}' is declared non-differentiable; a boosting "
                                         "objective needs its gradient")
        if len(loss.input_names) != 2 or len(loss.diff_names) != 1 or loss.diff_names[0] != loss.input_names[0]:
            raise LossgenError(f"{where}: a boosting objective needs a loss of (raw score, label); "
                               f"'{loss.name}' takes ({', '.join(loss.input_names)}) and is differentiated "
                               f"in ({', '.join(loss.diff_names)})")
        if hessian not in HESSIAN_MODES:
            raise ValueError(f"{where}: hessian must be one of {', '.join(map(repr, HESSIAN_MODES))}; "
                             f"got {hessian!r}")
        values = bind_params(where, loss.params, dict(params))
        loss.module.check_params(*values)
        self.loss = loss
        self.ref = LossRef.of(loss)
        self.where = where
        self.hessian = hessian
        self.params = dict(zip((n for n, _ in loss.params), values))
        self.name = loss.name

    # The libraries deep-copy their parameters (LightGBM) and pickle models (joblib, Dask):
    # an objective is immutable, and pickles as the way to find its loss again.
    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return _rebuild, (type(self), self.ref, self.hessian, self.params)

    def _arrays(self, raw, label, weight):
        raw = np.asarray(raw, dtype=np.float64).reshape(-1)
        label = np.asarray(label, dtype=np.float64).reshape(-1)
        if label.shape != raw.shape:
            raise ValueError(f"{self.where}: {raw.shape[0]} raw scores but {label.shape[0]} labels (one output "
                             "per sample is supported; multi-output/multi-class is not)")
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64).reshape(-1)
            if weight.size == 0:
                weight = None
            elif weight.shape != raw.shape:
                raise ValueError(f"{self.where}: {weight.shape[0]} sample weights for {raw.shape[0]} samples")
        return raw, label, weight

    def grad_hess(self, raw, label, weight=None) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample (g, h), weighted, with the Hessian convention of ``self.hessian``."""
        raw, label, weight = self._arrays(raw, label, weight)
        g, h = self.loss.grad_hess(raw, label, reduction="none", weight=weight, **self.params)
        if self.hessian == "exact":
            return g, h
        fallback = np.ones_like(h) if weight is None else weight
        if self.hessian == "constant":
            return g, fallback.copy()
        return g, np.where(h > 0, h, fallback)

    def __call__(self, preds, data):
        """The custom objective: (g, h) at the raw scores ``preds`` for the labels and weights of ``data``."""
        return self.grad_hess(preds, data.get_label(), data.get_weight())

    def data_metric(self, preds, data) -> float:
        """:meth:`mean_loss` for the labels and weights of ``data``."""
        return self.mean_loss(preds, data.get_label(), data.get_weight())

    def mean_loss(self, raw, label, weight=None) -> float:
        """The weighted mean loss at the raw scores."""
        raw, label, weight = self._arrays(raw, label, weight)
        total = float(self.loss.loss(raw, label, reduction="sum", weight=weight, **self.params))
        count = raw.shape[0] if weight is None else float(weight.sum())
        return total / count if count else float("nan")

    @property
    def metric_name(self) -> str:
        return f"lossgen-{self.name}"


def _rebuild(cls, ref: LossRef, hessian: str, params: dict):
    return cls(ref.resolve(), hessian, **params)
