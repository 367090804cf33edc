"""benchmarks/gpu_bench.py: its arguments, and a tiny run of the whole script."""
import importlib.util
import io
from pathlib import Path

import pytest

from lossgen.runtime.cuda import launch_limits

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_bench.py"


@pytest.fixture(scope="module")
def gpu_bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arguments(gpu_bench):
    a = gpu_bench.parse_args([])
    assert (a.n, a.dtype, sorted(a.loss), a.no_torch) == (10**8, ["float32", "float64"],
                                                          ["bce_with_logits", "huber"], False)
    a = gpu_bench.parse_args(["--n", "2.5e3", "--dtype", "float32", "--loss", "huber", "--repeat", "3"])
    assert (a.n, a.dtype, a.loss, a.repeat) == (2500, ["float32"], ["huber"], 3)
    for bad in (["--n", "0"], ["--dtype", "float16"], ["--loss", "mse"], ["--repeat", "0"]):
        with pytest.raises(SystemExit):
            gpu_bench.parse_args(bad)


def test_a_tiny_run(gpu_bench):
    out = io.StringIO()
    with launch_limits(threads=16, max_blocks=2):
        rows = gpu_bench.bench(gpu_bench.parse_args(["--n", "64", "--repeat", "1", "--warmup", "1", "--no-torch"]),
                               out=out)
    text = out.getvalue()
    assert len(rows) == 4 and {(r["loss"], r["dtype"]) for r in rows} == {
        (loss, dt) for loss in ("huber", "bce_with_logits") for dt in ("float32", "float64")}
    for r in rows:
        assert r["lossgen_ms"] > 0 and r["copy_ms"] > 0 and r["of_copy"] > 0
    assert "copy float32" in text and "lossgen ms" in text and "bce_with_logits" in text
