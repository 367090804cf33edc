import os

import numpy as np
import pytest

import lossgen

os.environ.setdefault("NUMBA_NUM_THREADS", "2")


def pytest_generate_tests(metafunc):
    if "catalog_name" in metafunc.fixturenames:
        metafunc.parametrize("catalog_name", lossgen.catalog())


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
