"""One scalar point function per loss, compiled for both targets.

The CUDA kernels call ``cuda.jit(device=True)`` compilations of the very code objects
the CPU kernels' ``njit`` functions were compiled from, and every stable primitive a
point function calls is re-bound to its own device version.
"""
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import lossgen
from lossgen.runtime import cuda_device, scalar


def _is_device_function(f):
    # a real CUDA device dispatcher, or the simulator's stand-in for one
    return not isinstance(f, CPUDispatcher) and (getattr(f, "_device", False)
                                                 or getattr(f, "targetoptions", {}).get("device", False))


def test_point_functions_share_their_code_with_the_cpu_kernels(cuda):
    mod = lossgen.get("huber").module
    d = cuda_device.device(mod.point_grad)
    assert _is_device_function(d)
    assert d.py_func.__code__ is mod.point_grad.py_func.__code__
    # the runtime primitive it calls is the device version of the same njit function
    sign = d.py_func.__globals__["sign"]
    assert sign is cuda_device.device(scalar.sign)
    assert _is_device_function(sign) and sign.py_func.__code__ is scalar.sign.py_func.__code__
    # the module's own globals are untouched: the CPU kernels still call CPU code
    assert isinstance(mod.sign, CPUDispatcher) and isinstance(mod.point_grad, CPUDispatcher)


def test_device_versions_are_built_once(cuda):
    assert cuda_device.device(scalar.sigmoid) is cuda_device.device(scalar.sigmoid)
    with pytest.raises(TypeError, match="expected a numba.njit function"):
        cuda_device.device(lambda x: x)


def test_every_loss_has_a_cuda_twin_of_every_cpu_kernel(cuda):
    for name in lossgen.catalog():
        mod = lossgen.get(name).module
        cpu = {k for k in ("loss_none", "loss_sum", "grad", "loss_grad_none", "loss_grad_sum", "hess",
                           "grad_hess", "hess_full") if hasattr(mod, k)}
        assert set(mod.cuda_kernels(cuda_device)) == cpu, name


def test_no_device_function_refers_to_cpu_code(cuda):
    """Every njit function a point function reaches is rebound, transitively."""
    def walk(d):
        for name in cuda_device._global_names(d.py_func.__code__):
            v = d.py_func.__globals__.get(name)
            assert not isinstance(v, CPUDispatcher), f"{d.py_func.__name__} calls the CPU function {name}"
            if _is_device_function(v):
                walk(v)

    for name in lossgen.catalog():
        mod = lossgen.get(name).module
        for attr in dir(mod):
            f = getattr(mod, attr)
            if attr.startswith("point_") and isinstance(f, CPUDispatcher):
                walk(cuda_device.device(f))


def test_a_device_point_function_gives_the_cpu_numbers(cuda, rng):
    """Called from a kernel, the device point function computes what njit computes."""
    mod = lossgen.get("bce_with_logits").module
    dev = cuda_device.device(mod.point_loss_grad)

    @cuda.jit
    def kernel(x, y, out_l, out_g):
        i = cuda_device.grid_start()     # (the simulator only fakes a module-level `cuda`)
        if i < x.shape[0]:
            out_l[i], out_g[i] = dev(x[i], y[i], 1.0)

    x, y = rng.normal(0, 4, 40), rng.uniform(0, 1, 40)
    out_l, out_g = cuda.device_array(40), cuda.device_array(40)
    kernel[2, 32](cuda.to_device(x), cuda.to_device(y), out_l, out_g)
    expect = np.array([mod.point_loss_grad(a, b, 1.0) for a, b in zip(x, y)])
    np.testing.assert_allclose(out_l.copy_to_host(), expect[:, 0], rtol=1e-15)
    np.testing.assert_allclose(out_g.copy_to_host(), expect[:, 1], rtol=1e-15)
