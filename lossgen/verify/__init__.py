"""Verification against the mathematics: high-precision truth and test points."""
