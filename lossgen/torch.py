"""PyTorch: ``lossgen.torch.Loss(name_or_spec_path, **params)``, an ``nn.Module`` whose
forward and backward (and double backward) run the generated kernels.

See :mod:`lossgen.integrations.torch_autograd` for the mathematics and
``docs/integrations.md`` for examples.  Importing this module imports torch.
"""
from .integrations.torch_autograd import GradFunction, Loss, LossFunction

__all__ = ["GradFunction", "Loss", "LossFunction"]
