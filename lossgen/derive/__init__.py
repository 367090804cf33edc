"""Gradients and Hessians of a spec's loss (derive stage)."""
from .derivatives import Derivatives, derive

__all__ = ["Derivatives", "derive"]
