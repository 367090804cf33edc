"""The contract of ``Loss.cuda``: arguments, refusals, buffers, layouts, reductions."""
import numpy as np
import pytest

import lossgen
from cuda_checks import RTOL64, assert_close, host
from lossgen.errors import NotDifferentiableError
from lossgen.runtime.cuda import CudaLoss, launch_config, launch_limits


@pytest.fixture(autouse=True)
def small_grid():
    with launch_limits(threads=16, max_blocks=3):
        yield


@pytest.fixture
def huber():
    return lossgen.get("huber")


@pytest.fixture
def data(rng):
    return rng.normal(0, 2, 97), rng.normal(0, 2, 97), rng.uniform(0.5, 2, 97)


class Foreign:
    """A device array from another library: only ``__cuda_array_interface__`` (v3).

    It owns device memory holding ``array`` (under the simulator 'device' memory is
    host memory, so there it wraps the NumPy buffer itself); ``host()`` reads it back."""

    def __init__(self, array, readonly=False, stream=None):
        from numba import cuda
        self.array = array
        self._device = None if _simulated() else cuda.to_device(array)
        self.readonly = readonly
        self.stream = stream

    def host(self):
        return self.array if self._device is None else self._device.copy_to_host()

    @property
    def __cuda_array_interface__(self):
        a = self.array
        ptr = a.ctypes.data if self._device is None else self._device.__cuda_array_interface__["data"][0]
        return {"shape": a.shape, "typestr": a.dtype.str, "data": (ptr, self.readonly),
                "strides": None if a.flags.c_contiguous else a.strides, "version": 3, "stream": self.stream}


def _simulated():
    from numba import cuda
    return type(cuda.get_current_device()).__module__.startswith("numba.cuda.simulator")


class RefusesInterface:
    """Like a torch tensor that requires grad: asking for the interface raises."""

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")


def test_cuda_property_is_a_cached_cuda_loss(huber):
    assert isinstance(huber.cuda, CudaLoss)
    assert huber.cuda is huber.cuda
    assert "huber" in repr(huber.cuda)


def test_host_array_is_refused_naming_the_argument(huber, cuda, data):
    p, t, _ = data
    with pytest.raises(TypeError, match=r"huber\.cuda\.loss: argument 'target' is a host NumPy array"):
        huber.cuda.loss(cuda.to_device(p), t)
    with pytest.raises(TypeError, match="argument 'pred' is a host NumPy array"):
        huber.cuda.grad(p, cuda.to_device(t))
    with pytest.raises(TypeError, match="argument 'target' is a builtins.list, not a CUDA device array"):
        huber.cuda.loss(cuda.to_device(p), list(t))
    with pytest.raises(TypeError, match="argument 'weight' is a host NumPy array"):
        huber.cuda.loss(cuda.to_device(p), cuda.to_device(t), weight=np.ones_like(p))


def test_wrong_dtypes_are_refused_naming_the_argument(huber, cuda, data):
    p, t, _ = data
    dp = cuda.to_device(p)
    with pytest.raises(TypeError, match="argument 'target' has dtype int64; expected float32 or float64"):
        huber.cuda.loss(dp, cuda.to_device(t.astype(np.int64)))
    with pytest.raises(TypeError, match="argument 'target' has dtype float32; expected float64, the dtype of 'pred'"):
        huber.cuda.loss(dp, cuda.to_device(t.astype(np.float32)))
    with pytest.raises(TypeError, match="argument 'weight' has dtype float32; expected float64"):
        huber.cuda.loss(dp, cuda.to_device(t), weight=cuda.to_device(np.ones(len(p), np.float32)))


def test_mismatched_shapes_are_refused_naming_the_argument(huber, cuda, data):
    p, t, _ = data
    dp = cuda.to_device(p)
    with pytest.raises(ValueError, match=r"argument 'target' has shape \(96,\); expected \(97,\)"):
        huber.cuda.loss_grad(dp, cuda.to_device(t[:-1]))
    with pytest.raises(ValueError, match=r"argument 'weight' has shape \(3,\); expected \(97,\)"):
        huber.cuda.loss(dp, cuda.to_device(t), weight=cuda.to_device(np.ones(3)))


def test_other_refusals(huber, cuda, data):
    p, t, _ = data
    dp, dt = cuda.to_device(p), cuda.to_device(t)
    with pytest.raises(TypeError, match="out= applies to reduction='none' only"):
        huber.cuda.loss(dp, dt, reduction="sum", out=cuda.device_array(97))
    with pytest.raises(ValueError, match=r"out 'grad_pred' has shape \(5,\)"):
        huber.cuda.grad(dp, dt, out=cuda.device_array(5))
    with pytest.raises(ValueError, match="out 'loss' is read-only"):
        huber.cuda.loss(dp, dt, reduction="none", out=Foreign(np.zeros(97), readonly=True))
    with pytest.raises(ValueError, match="reduction must be one of"):
        huber.cuda.loss(dp, dt, reduction="avg")
    with pytest.raises(ValueError, match="delta=-1.0 violates the constraint"):
        huber.cuda.loss(dp, dt, delta=-1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        huber.cuda.loss(dp, dt, dleta=1.0)
    with pytest.raises(TypeError, match="missing input array 'target'"):
        huber.cuda.loss(dp)
    with pytest.raises(TypeError, match="argument 'target' cannot be used as a device array: Can't get"):
        huber.cuda.loss(dp, RefusesInterface())
    square = cuda.to_device(np.zeros((10, 10)))
    with pytest.raises(ValueError, match="argument 'pred' is a non-contiguous 2-d device array"):
        huber.cuda.loss(square[:, ::2], square[:, 1::2])
    with pytest.raises(NotDifferentiableError):
        lossgen.get("zero_one").cuda.grad(dp, dt)


def test_keyword_inputs_parameters_and_reductions_match_cpu(huber, cuda, data):
    p, t, w = data
    dp, dt, dw = cuda.to_device(p), cuda.to_device(t), cuda.to_device(w)
    got = host(huber.cuda.loss(pred=dp, target=dt, delta=0.7, reduction="none", weight=dw))
    assert_close("keywords", got, huber.loss(p, t, delta=0.7, reduction="none", weight=w), RTOL64)
    for red in ("sum", "mean"):
        total = huber.cuda.loss(dp, dt, delta=0.7, reduction=red, weight=dw)
        # a 0-d device array of the inputs' dtype, not a host scalar
        assert getattr(total, "__cuda_ndarray__", False) and total.shape == ()
        assert host(total)[()] == pytest.approx(huber.loss(p, t, delta=0.7, reduction=red, weight=w), rel=1e-14)
    assert host(huber.cuda.loss(dp, dt))[()] == pytest.approx(huber.loss(p, t), rel=1e-14)  # default: mean


def test_foreign_device_arrays_are_adopted_without_copies(huber, cuda, data):
    p, t, w = data
    fp, ft, fw = Foreign(p.copy()), Foreign(t.copy()), Foreign(w.copy())
    out_l, out_g = np.zeros(97), np.zeros(97)
    fl, fg = Foreign(out_l), Foreign(out_g)
    rl, rg = huber.cuda.loss_grad(fp, ft, weight=fw, reduction="none", out=(fl, fg))
    assert rl is fl and rg is fg              # given buffers come back as given
    cl, cg = huber.loss_grad(p, t, weight=w, reduction="none")
    assert_close("foreign loss", fl.host(), cl, RTOL64)   # written in place, in the caller's memory
    assert_close("foreign grad", fg.host(), cg, RTOL64)


def test_out_buffers_and_aliasing(huber, cuda, data):
    p, t, _ = data
    dp, dt = cuda.to_device(p), cuda.to_device(t)
    buf = cuda.device_array(97)
    assert huber.cuda.grad(dp, dt, reduction="sum", out=buf) is buf
    assert_close("out", host(buf), huber.grad(p, t, reduction="sum"), RTOL64)
    # out is an input: element i is read before it is written
    g = huber.cuda.grad(dp, dt, reduction="none", out=dp)
    assert g is dp
    assert_close("aliased", host(dp), huber.grad(p, t, reduction="none"), RTOL64)
    # out overlaps an input shifted by one element: the input is copied first
    mem = cuda.to_device(np.concatenate([p, [0.0]]))
    huber.cuda.grad(mem[1:], dt, reduction="none", out=mem[:97])
    assert_close("shifted overlap", host(mem)[:97], huber.grad(np.concatenate([p, [0.0]])[1:], t, reduction="none"),
                 RTOL64)


def test_loss_grad_out_with_a_reduction(huber, cuda, data):
    p, t, _ = data
    dp, dt = cuda.to_device(p), cuda.to_device(t)
    g = cuda.device_array(97)
    total, rg = huber.cuda.loss_grad(dp, dt, reduction="mean", out=(None, g))
    assert rg is g
    ct, cg = huber.loss_grad(p, t, reduction="mean")
    assert host(total)[()] == pytest.approx(ct, rel=1e-14)
    assert_close("grad", host(g), cg, RTOL64)
    with pytest.raises(TypeError, match="out must be"):
        huber.cuda.loss_grad(dp, dt, reduction="mean", out=(g, g))


def test_layouts_two_d_strided_and_zero_d(huber, cuda, rng):
    p, t = rng.normal(size=(6, 11)), rng.normal(size=(6, 11))
    l, g = huber.cuda.loss_grad(cuda.to_device(p), cuda.to_device(t), reduction="none")
    assert l.shape == (6, 11) and g.shape == (6, 11)
    cl, cg = huber.loss_grad(p, t, reduction="none")
    assert_close("2-d loss", host(l), cl, RTOL64)
    assert_close("2-d grad", host(g), cg, RTOL64)
    # 1-d views with a stride
    big_p, big_t = rng.normal(size=200), rng.normal(size=200)
    dp, dt = cuda.to_device(big_p), cuda.to_device(big_t)
    assert_close("strided", host(huber.cuda.grad(dp[::2], dt[1::2], reduction="none")),
                 huber.grad(big_p[::2], big_t[1::2], reduction="none"), RTOL64)
    # 0-d
    v = huber.cuda.loss(cuda.to_device(np.array(3.0)), cuda.to_device(np.array(0.5)), reduction="none")
    assert v.shape == () and host(v)[()] == pytest.approx(huber.loss(np.array(3.0), np.array(0.5), reduction="none"))


@pytest.mark.filterwarnings("ignore:invalid value encountered")   # the simulator's 0/0
def test_empty_inputs(huber, cuda):
    e = cuda.to_device(np.zeros(0))
    assert host(huber.cuda.loss(e, e, reduction="none")).shape == (0,)
    assert host(huber.cuda.loss(e, e, reduction="sum"))[()] == 0.0
    assert np.isnan(host(huber.cuda.loss(e, e, reduction="mean"))[()])     # as torch
    total, g = huber.cuda.loss_grad(e, e, reduction="mean")
    assert np.isnan(host(total)[()]) and host(g).shape == (0,)


def test_several_differentiable_inputs_give_tuples(cuda, rng):
    L = lossgen.get("gaussian_nll")
    p, t, v = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.5, 2, 50)
    d = [cuda.to_device(x) for x in (p, t, v)]
    g = L.cuda.grad(*d, reduction="none")
    assert isinstance(g, tuple) and len(g) == 2
    gb, hb = (cuda.device_array(50), cuda.device_array(50)), (cuda.device_array(50), cuda.device_array(50))
    rg, rh = L.cuda.grad_hess(*d, reduction="none", out=(gb, hb))
    assert rg == gb and rh == hb
    cg, ch = L.grad_hess(p, t, v, reduction="none")
    for x, y in zip(rg + rh, cg + ch):
        assert_close("gaussian_nll grad_hess", host(x), y, RTOL64)


def test_grid_stride_covers_every_element(huber, cuda, rng):
    p, t = rng.normal(size=1000), rng.normal(size=1000)
    with launch_limits(threads=16, max_blocks=2):     # 32 threads: about 31 elements each
        assert launch_config(cuda, 1000) == (2, 16)
        g = host(huber.cuda.grad(cuda.to_device(p), cuda.to_device(t), reduction="none"))
    assert_close("grid stride", g, huber.grad(p, t, reduction="none"), RTOL64)


def _tree(values):
    """Pairwise sum in the order of cuda_device.block_total (len a power of two)."""
    buf = np.array(values, dtype=np.float64)
    s = len(buf) // 2
    while s > 0:
        buf[:s] = buf[:s] + buf[s:2 * s]
        s //= 2
    return buf[0]


def test_sums_are_the_documented_fixed_order_tree(cuda, rng):
    """Bit for bit: per-thread float64 sums over the grid stride, a pairwise tree per
    block, then the finishing block's strided sums and its tree: no atomics, no races."""
    L = lossgen.get("mse")
    p, t = rng.normal(size=301), rng.normal(size=301)
    elems = L.loss(p, t, reduction="none")
    blocks, threads = 3, 16
    with launch_limits(threads=threads, max_blocks=blocks):
        assert launch_config(cuda, 301) == (blocks, threads)
        got = [host(L.cuda.loss(cuda.to_device(p), cuda.to_device(t), reduction="sum"))[()] for _ in range(3)]
    per_thread = np.zeros(blocks * threads)
    for i, v in enumerate(elems):                     # thread i % (grid size) adds element i, in order
        per_thread[i % (blocks * threads)] += v
    partials = [_tree(per_thread[b * threads:(b + 1) * threads]) for b in range(blocks)]
    finish = np.zeros(threads)
    for j, v in enumerate(partials):
        finish[j % threads] += v
    assert got[0] == got[1] == got[2] == _tree(finish)


def test_float32_inputs_are_summed_in_float64(cuda):
    L = lossgen.get("l2_penalty")
    w = np.ones(300, np.float32)
    w[0] = 4096.0                      # one term of 2**24 * lam/2 ... then 299 small ones
    terms = L.loss(w, reduction="none").astype(np.float64)
    total = L.cuda.loss(cuda.to_device(w), reduction="sum")
    assert np.dtype(total.dtype) == np.float32
    assert host(total)[()] == np.float32(terms.sum())
    naive = np.float32(0)
    for x in terms.astype(np.float32):
        naive = np.float32(naive + x)
    assert naive != np.float32(terms.sum())      # a float32 accumulator would have lost the small terms


def test_stream_keyword(huber, cuda, data):
    p, t, _ = data
    s = cuda.stream()
    total = huber.cuda.loss(cuda.to_device(p), cuda.to_device(t), reduction="sum", stream=s)
    s.synchronize()
    assert host(total)[()] == pytest.approx(huber.loss(p, t, reduction="sum"), rel=1e-14)


def test_launch_limits_are_checked_and_restored(cuda):
    with pytest.raises(ValueError, match="power of two"), launch_limits(threads=48):
        pass
    before = launch_config(cuda, 10**6)
    with launch_limits(threads=8, max_blocks=1):
        assert launch_config(cuda, 10**6) == (1, 8)
    assert launch_config(cuda, 10**6) == before
