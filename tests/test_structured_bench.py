"""benchmarks/structured_bench.py runs and prints its table (tiny sizes: a smoke test, not a timing)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_structured_benchmark_script_runs():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "structured_bench.py"), "--sizes", "2000x10,50x300",
                           "--repeat", "2", "--dtype", "float64"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = [ln.split() for ln in proc.stdout.splitlines() if ln.strip() and ln.split()[0].isdigit()]
    assert [(int(r[0]), int(r[1])) for r in lines] == [(2000, 10), (50, 300)]
    for r in lines:
        assert float(r[2]) > 0 and float(r[3]) > 0 and r[4].endswith("x")
        assert float(r[5]) < 1e-12                      # lossgen's gradient equals torch's
