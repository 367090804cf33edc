"""CPU benchmark: lossgen's fused kernels against NumPy, torch, scikit-learn and memory.

    python benchmarks/cpu_bench.py                         # every elementwise catalog loss, N = 1e7
    python benchmarks/cpu_bench.py huber mse --n 1e6       # a subset, smaller arrays
    python benchmarks/cpu_bench.py --write benchmarks/RESULTS.md

The same as ``lossgen bench``; what is measured is described in :mod:`lossgen.bench`.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lossgen.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/cpu_bench.py"))
