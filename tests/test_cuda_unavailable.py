"""Without CUDA: lossgen imports and its CPU kernels run; ``.cuda`` fails only on launch.

Checked in a fresh process (this one may have imported numba.cuda already): importing
lossgen, loading a generated module and running its CPU kernels never import
numba.cuda; ``Loss.cuda`` exists; launching a kernel where no GPU is usable raises
CudaUnavailableError (a RuntimeError) that says so and what to do.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys
import numpy as np
import lossgen
from lossgen.errors import CudaUnavailableError
L = lossgen.get("bce_with_logits")
x = np.linspace(-3, 3, 11)
total, grad = L.loss_grad(x, np.full(11, 0.5))
c = L.cuda
report = {"after_cpu_use": "numba.cuda" in sys.modules, "total": float(total), "cuda_repr": repr(c)}
from numba import cuda
report["available"] = bool(cuda.is_available())
if not report["available"]:
    try:
        c.loss_grad(x, x)
    except CudaUnavailableError as exc:
        report["error"] = str(exc)
        report["is_runtime_error"] = isinstance(exc, RuntimeError)
print(json.dumps(report))
"""


def test_no_cuda_needed_until_a_kernel_is_launched():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["after_cpu_use"] is False, "importing lossgen or running CPU kernels imported numba.cuda"
    assert report["total"] > 0 and "CudaLoss bce_with_logits" in report["cuda_repr"]
    if not report["available"]:        # (on a machine with a GPU there is nothing more to check here)
        assert report["is_runtime_error"]
        assert "bce_with_logits.cuda.loss_grad: no CUDA GPU is usable here" in report["error"]
        assert "NUMBA_ENABLE_CUDASIM=1" in report["error"]
