"""The vocabulary of stable functions a spec may use (see :mod:`.functions`)."""
from .functions import (PRIMITIVES, Primitive, log1p, expm1, sigmoid, softplus, log_sigmoid,
                        logcosh, logaddexp, xlogy, to_elementary)

__all__ = ["PRIMITIVES", "Primitive", "log1p", "expm1", "sigmoid", "softplus", "log_sigmoid",
           "logcosh", "logaddexp", "xlogy", "to_elementary"]
