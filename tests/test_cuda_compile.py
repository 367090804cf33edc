"""Every generated CUDA kernel compiles for a real GPU (PTX through NVVM), no GPU needed.

The simulator (tests/cuda) runs the kernels' Python; it does not type them for Numba's
CUDA target.  This test does: each catalog loss's kernels, float64 (all of them) and
float32 (the fused ones), compiled to PTX for compute capability 8.0 — with no
floating-point atomics in any of them, and a block barrier in the reducing ones.

It needs NVVM and NVRTC (``pip install nvidia-nvvm nvidia-cuda-nvrtc``, or a CUDA
toolkit) and is skipped where they cannot be loaded.  Without a GPU, Numba still asks
the current device for its compute capability when it compiles a device function;
that one question is answered here with 8.0.
"""
import inspect
import os
import re

import pytest

import lossgen

CC = (8, 0)


class _Device:
    compute_capability = CC


@pytest.fixture(scope="module")
def ptx():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        pytest.skip("the simulator compiles nothing")
    try:
        from numba import cuda, types
    except ImportError as exc:
        pytest.skip(f"numba.cuda cannot be imported: {exc}")
    with pytest.MonkeyPatch.context() as mp:
        if not cuda.is_available():
            from numba.cuda import dispatcher
            mp.setattr(dispatcher, "get_current_device", lambda: _Device())

        def compile_kernel(kernel, argtypes):
            return cuda.compile_ptx(kernel.py_func, tuple(argtypes), cc=CC)[0]

        def probe(x):
            x[0] = 1.0

        try:
            compile_kernel(cuda.jit(probe), [types.float64[::1]])
        except Exception as exc:  # no NVVM / NVRTC: nothing to compile with
            pytest.skip(f"NVVM/NVRTC not usable here ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
        yield compile_kernel, types


def test_kernels_compile_to_ptx(catalog_name, ptx):
    compile_kernel, types = ptx
    L = lossgen.get(catalog_name)
    params = {p for p, _ in L.params}
    for name, kernel in L.cuda._kernels().items():
        for dtype in (types.float64, types.float32):
            if dtype is types.float32 and name not in ("loss_grad_sum", "grad_hess", "loss_sum"):
                continue
            args = [types.float64 if (a == "_scale" or a in params)
                    else types.float64[::1] if a == "_partials" else dtype[::1]
                    for a in inspect.signature(kernel.py_func).parameters]
            text = compile_kernel(kernel, args)
            assert ".entry" in text, (catalog_name, name)
            assert not re.search(r"\batom\.", text), f"{catalog_name}.{name}: atomics in the PTX"
            if name.endswith("_sum"):
                assert "bar.sync" in text, f"{catalog_name}.{name}: no block barrier in a reduction"


def test_runtime_kernels_compile_to_ptx(ptx):
    compile_kernel, types = ptx
    from lossgen.runtime import cuda_device
    for dtype in (types.float32, types.float64):
        text = compile_kernel(cuda_device.finish_sum,
                              [types.float64[::1], types.float64, types.Array(dtype, 0, "C")])
        assert "bar.sync" in text and not re.search(r"\batom\.", text)
        compile_kernel(cuda_device.copy, [dtype[:], dtype[::1]])
