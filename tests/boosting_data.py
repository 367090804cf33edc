"""Data and a user spec shared by the XGBoost and LightGBM tests."""
import numpy as np
import pytest

import lossgen
from lossgen.scaffold import scaffold


def compile_half_squared_error(folder):
    """A user's spec, (pred - target)**2/2, compiled as a user would (``lossgen.compile``):
    the loss XGBoost's reg:squarederror and LightGBM's regression objective minimise."""
    path = folder / "half_squared_error.toml"
    path.write_text(scaffold("half_squared_error", "(pred - target)**2/2", {}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOSSGEN_CACHE_DIR", str(folder / "cache"))
        return lossgen.compile(path)


def regression(n=600, seed=0, outliers=0.0):
    """(X, y, clean): a smooth function of 4 features, Gaussian noise, and a fraction of
    gross outliers of +-10..30."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 4))
    clean = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 0.5 * X[:, 2]
    y = clean + 0.2 * rng.standard_normal(n)
    bad = rng.random(n) < outliers
    y[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(10, 30, bad.sum())
    return X, y, clean


def labels(X, seed, positive_rate):
    """0/1 labels from a logistic model of X with the given base rate."""
    rng = np.random.default_rng(seed)
    logit = 2 * X[:, 0] - X[:, 1] * X[:, 2] + np.log(positive_rate / (1 - positive_rate))
    return (rng.random(len(X)) < 1 / (1 + np.exp(-logit))).astype(np.float64)
