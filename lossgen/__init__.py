"""lossgen: a loss written once as mathematics; gradients, Hessians, properties,
kernels and documentation derived from it.

>>> import lossgen
>>> h = lossgen.get("huber")
>>> h.loss_grad(pred, target, delta=1.0, reduction="mean")   # doctest: +SKIP
"""
from . import cpu_dispatch  # noqa: F401  (first: it caps NumPy's CPU dispatch before NumPy loads)
from ._version import __version__
from .catalog import catalog, compile, get, structured_catalog
from .errors import BuildError, LossgenError, NotDifferentiableError, SpecError
from .runtime.loss import Loss

__all__ = ["__version__", "catalog", "structured_catalog", "get", "compile", "Loss", "LossgenError", "SpecError",
           "BuildError", "NotDifferentiableError"]
