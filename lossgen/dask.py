"""Dask: ``lossgen.dask.loss``, ``grad`` and ``grad_hess`` over chunked Dask arrays.

Blockwise kernels and tree reductions (see :mod:`lossgen.integrations.dask_arrays`);
the first argument names the loss (catalog name, spec path or :class:`lossgen.Loss`),
the rest are as in the array API::

    import dask.array as da, lossgen.dask
    pred = da.random.normal(size=10**9, chunks=10**7)
    target = da.zeros_like(pred)
    total = lossgen.dask.loss("huber", pred, target, delta=1.0, reduction="mean")
    total.compute()          # on the active scheduler, e.g. a distributed.Client

Importing this module imports dask.array.
"""
from .integrations.dask_arrays import grad, grad_hess, loss

__all__ = ["grad", "grad_hess", "loss"]
