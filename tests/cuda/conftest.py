"""The CUDA test suite: ``Loss.cuda`` against the CPU kernels and the symbolic truth.

It needs numba.cuda to run kernels, so it is collected only

* under Numba's CUDA simulator: ``NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda``
  (the variable must be set before numba is imported, hence a process of its own:
  ``tests/test_cuda_simulator.py`` starts one from the main suite); or
* on a machine with a GPU, when asked: ``LOSSGEN_CUDA_TESTS=1 python -m pytest tests/cuda``.

In the main test process (no simulator) these files are not collected at all.
"""
import os
import sys
from pathlib import Path

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
if not (SIMULATOR or os.environ.get("LOSSGEN_CUDA_TESTS") == "1"):
    collect_ignore_glob = ["test_*.py"]
else:
    # the budgets and ulp helper of the CPU ground-truth tests (tests/)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    # The simulator runs each CUDA thread as a Python thread and polls them from the
    # main thread: a short GIL switch interval makes a launch several times faster.
    sys.setswitchinterval(1e-4)

    def _lock_shared_allocation():
        """Work around a race in the simulator: FakeCUDAShared.array looks an allocation
        up, builds it and stores it without a lock, so under load two threads of one
        block can each get their own "shared" array (seen: a block sum off by 18 %).
        On a GPU a block has one shared buffer; this makes the simulator agree."""
        import threading
        import traceback

        from numba.cuda.simulator import kernelapi
        original = kernelapi.FakeCUDAShared.array
        lock = threading.Lock()

        def array(self, shape, dtype, alignment=None):
            if alignment is not None or shape == 0:
                return original(self, shape, dtype, alignment)
            if isinstance(dtype, kernelapi.types.Type):
                dtype = kernelapi.numpy_support.as_dtype(dtype)
            caller = traceback.extract_stack(sys._getframe())[-2][0:2]
            with lock:
                res = self._allocations.get(caller)
                if res is None:
                    res = kernelapi.np.empty(shape, dtype)
                    self._allocations[caller] = res
            return res
        kernelapi.FakeCUDAShared.array = array

    _lock_shared_allocation()


@pytest.fixture(scope="session")
def cuda():
    from numba import cuda as numba_cuda
    if SIMULATOR:
        assert type(numba_cuda.get_current_device()).__module__.startswith("numba.cuda.simulator"), \
            "NUMBA_ENABLE_CUDASIM=1 but numba.cuda is not the simulator (numba imported before it was set?)"
    return numba_cuda
