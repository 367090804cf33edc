"""The CUDA test suite (tests/cuda) in Numba's CUDA simulator, in a process of its own.

NUMBA_ENABLE_CUDASIM must be set before numba is first imported, and this process
imported numba long ago, so the suite runs as ``python -m pytest tests/cuda`` in a
child process with the variable set.  It compares every catalog loss's ``.cuda``
kernels with the CPU kernels and with the symbolic ground truth (see tests/cuda/).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lossgen

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_cuda_suite_passes_in_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env.pop("LOSSGEN_CUDA_TESTS", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cuda"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
    report = proc.stdout[-8000:] + ("\n" + proc.stderr[-4000:] if proc.stderr else "")
    assert proc.returncode == 0, f"the CUDA suite failed in the simulator:\n{report}"
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 2 * len(lossgen.catalog()), f"too few CUDA tests ran:\n{report}"
