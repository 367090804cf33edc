"""Recycled result arrays (lossgen.runtime.buffers): a result the caller still holds, or
any view of it, is never written by a later call; a dropped one is reused."""
import numpy as np
import pytest

import lossgen
from lossgen.runtime import buffers

N = 1 << 18          # 2 MiB of float64: above the pooling threshold


@pytest.fixture(autouse=True)
def fresh_pool():
    buffers.clear()
    yield
    buffers.clear()


def _data(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=N), rng.normal(size=N)


def test_held_results_are_never_overwritten():
    h = lossgen.get("huber")
    held = []
    for seed in range(4):
        p, t = _data(seed)
        _, g = h.loss_grad(p, t, reduction="none")
        held.append((g, np.clip(p - t, -1.0, 1.0)))      # the gradient, and its value by NumPy
    assert len({id(g) for g, _ in held}) == len(held)
    for g, want in held:
        np.testing.assert_array_equal(g, want)


def test_views_and_torch_tensors_keep_their_array():
    h = lossgen.get("mse")
    p, t = _data(7)
    view = h.grad(p, t, reduction="none")[::2]               # only a view survives
    want = (2 * (p - t))[::2].copy()
    for seed in range(3):
        h.grad(*_data(seed), reduction="none")
    np.testing.assert_array_equal(view, want)
    torch = pytest.importorskip("torch")
    tensor = torch.from_numpy(h.grad(p, t, reduction="none"))
    for seed in range(3):
        h.grad(*_data(seed), reduction="none")
    np.testing.assert_array_equal(tensor.numpy(), 2 * (p - t))


def test_a_dropped_result_is_reused_and_rewritten_whole():
    h = lossgen.get("huber")
    p, t = _data(1)
    first = id(h.grad(p, t, reduction="none"))                 # dropped at once
    p2, t2 = _data(2)
    g = h.grad(p2, t2, reduction="none")
    assert id(g) == first
    np.testing.assert_array_equal(g, np.clip(p2 - t2, -1.0, 1.0))


def test_small_arrays_and_other_dtypes_are_separate():
    a = buffers.empty((10,), np.float64)
    del a
    assert buffers.empty((10,), np.float64) is not buffers.empty((10,), np.float64)   # not pooled
    big = buffers.empty((N,), np.float64)
    big_id = id(big)
    del big
    other = buffers.empty((N,), np.float32)
    assert other.dtype == np.float32 and id(other) != big_id
