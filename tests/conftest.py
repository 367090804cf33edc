import os

import lossgen  # noqa: I001  (first: it caps NumPy's CPU dispatch before NumPy loads)
import numpy as np
import pytest

os.environ.setdefault("NUMBA_NUM_THREADS", "2")


def pytest_generate_tests(metafunc):
    if "catalog_name" in metafunc.fixturenames:
        metafunc.parametrize("catalog_name", lossgen.catalog())


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
