"""Spec files -> :class:`Spec` objects (parse stage)."""
from .loader import load_spec, parse_spec_text
from .model import DOMAINS, Domain, Input, Param, Spec

__all__ = ["load_spec", "parse_spec_text", "Spec", "Input", "Param", "Domain", "DOMAINS"]
