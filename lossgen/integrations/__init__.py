"""Adapters that put lossgen's kernels where people train.

Each submodule has one job and is imported only by its thin public module, so
``import lossgen`` never imports torch, XGBoost, LightGBM or Dask:

* :mod:`.resolve` — a loss given by catalog name, spec path or :class:`~lossgen.Loss`;
  a picklable reference for worker processes.
* :mod:`.torch_autograd` — ``lossgen.torch``: an ``nn.Module`` over a ``torch.autograd.Function``.
* :mod:`.boosting` — the (gradient, Hessian) and metric core that ``lossgen.xgboost`` and
  ``lossgen.lightgbm`` wrap in each library's calling convention.
* :mod:`.dask_arrays` — ``lossgen.dask``: blockwise kernels and tree reductions.
"""
