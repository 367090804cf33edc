"""Check and normalise the device-array arguments of a ``.cuda`` call.

Accepted: Numba device arrays and any object exporting ``__cuda_array_interface__``
(CuPy arrays, torch CUDA tensors, ...), adopted as Numba views of the same memory
(never copied, never moved through the host).  Every refusal is a ``TypeError`` or
``ValueError`` naming the loss, the method and the argument:

* a host array (NumPy, a CPU torch tensor, a list) -> TypeError;
* a dtype other than float32/float64, or an input whose dtype differs from the first
  input's (no silent device-side casts) -> TypeError;
* a shape different from the first input's -> ValueError;
* an input of two or more dimensions that is not C-contiguous -> ValueError
  (1-d inputs may have any stride);
* an ``out=`` buffer of the wrong shape or dtype, read-only or not C-contiguous -> ValueError.

Stream order: an adopted array may declare the stream that produced it (the
interface's ``stream`` entry).  Instead of synchronising the host with it (Numba's
default for ``as_cuda_array``), :func:`order_after` makes the launch stream wait for
an event recorded on it: the ordering happens on the device.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from .arguments import FLOAT_DTYPES, bind_positional

_HOW = ("pass a CUDA device array: numba.cuda.to_device(x), a CuPy array or a torch CUDA tensor "
        "(the CPU API takes host arrays)")


@dataclass
class DeviceArg:
    """One bound array argument: what the user passed, its Numba view, its 1-d view."""

    given: object
    array: object          # Numba device array (or the simulator's), the given shape
    flat: object           # 1-d view of the same memory
    stream: int | None     # the producer stream its interface declares, if any

    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.array.dtype)


def _interface(value, where: str, argname: str):
    try:
        return value.__cuda_array_interface__
    except AttributeError:
        return None
    except Exception as exc:  # torch refuses for a tensor that requires grad, etc.
        raise TypeError(f"{where}: argument '{argname}' cannot be used as a device array: {exc}") from None


def _simulator_view(cuda, iface: dict):
    """A simulator device array over the memory an interface describes (the simulator's
    'device' memory is host memory, and it has no ``as_cuda_array``)."""
    dtype = np.dtype(iface["typestr"])
    shape = tuple(iface["shape"])
    strides = iface.get("strides")
    if strides is None:
        strides = tuple(int(s) for s in np.empty(shape, dtype=dtype).strides) if shape else ()
    lo = sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + dtype.itemsize
    if 0 in shape:
        return cuda.device_array(shape, dtype)
    buf = (ctypes.c_char * (hi - lo)).from_address(iface["data"][0] + lo)
    return cuda.devicearray.FakeCUDAArray(np.ndarray(shape, dtype, buffer=buf, offset=-lo, strides=strides))


def adopt(cuda, value, where: str, argname: str, *, writable: bool = False) -> tuple[object, int | None]:
    """``value`` as a Numba device array viewing the same memory, and the stream its
    interface declares; TypeError for anything that is not a float device array."""
    if isinstance(value, np.ndarray):
        raise TypeError(f"{where}: argument '{argname}' is a host NumPy array; {_HOW}")
    if getattr(value, "__cuda_ndarray__", False):      # Numba's own device arrays
        arr = value
        iface = _interface(value, where, argname)
    else:
        iface = _interface(value, where, argname)
        if iface is None:
            raise TypeError(f"{where}: argument '{argname}' is a {type(value).__module__}.{type(value).__name__}, "
                            f"not a CUDA device array (it has no __cuda_array_interface__); {_HOW}")
        if writable and iface.get("data", (0, False))[1]:
            raise ValueError(f"{where}: out '{argname}' is read-only")
        arr = cuda.as_cuda_array(value, sync=False) if hasattr(cuda, "as_cuda_array") \
            else _simulator_view(cuda, iface)
    dtype = np.dtype(arr.dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where}: argument '{argname}' has dtype {dtype}; expected float32 or float64")
    return arr, (iface or {}).get("stream")


def flatten(arr, where: str, argname: str):
    """A 1-d view of ``arr`` (1-d arrays as they are; others must be C-contiguous)."""
    if arr.ndim == 1:
        return arr
    if not arr.is_c_contiguous():
        raise ValueError(f"{where}: argument '{argname}' is a non-contiguous {arr.ndim}-d device array; "
                         "pass a C-contiguous one (or a 1-d view)")
    return arr.reshape(int(arr.size))


def bind_device_inputs(cuda, where: str, input_names: tuple[str, ...], arrays: tuple,
                       kwargs: dict) -> list[DeviceArg]:
    """Bind positional/keyword inputs; one float dtype and one shape for all of them."""
    values = bind_positional(where, input_names, arrays, kwargs)
    bound = []
    for value, name in zip(values, input_names):
        arr, stream = adopt(cuda, value, where, name)
        if bound:
            first = bound[0]
            if tuple(arr.shape) != first.shape:
                raise ValueError(f"{where}: argument '{name}' has shape {tuple(arr.shape)}; expected "
                                 f"{first.shape}, the shape of '{input_names[0]}'")
            if np.dtype(arr.dtype) != first.dtype:
                raise TypeError(f"{where}: argument '{name}' has dtype {np.dtype(arr.dtype)}; expected "
                                f"{first.dtype}, the dtype of '{input_names[0]}' (device inputs are not cast)")
        bound.append(DeviceArg(value, arr, flatten(arr, where, name), stream))
    return bound


def bind_weight(cuda, where: str, weight, shape: tuple, dtype: np.dtype, stream) -> DeviceArg:
    """The weights, or a length-0 device array meaning 'no weights'."""
    if weight is None:
        empty = cuda.device_array(0, dtype, stream=stream)
        return DeviceArg(None, empty, empty, None)
    arr, producer = adopt(cuda, weight, where, "weight")
    if tuple(arr.shape) != shape:
        raise ValueError(f"{where}: argument 'weight' has shape {tuple(arr.shape)}; expected {shape}")
    if np.dtype(arr.dtype) != dtype:
        raise TypeError(f"{where}: argument 'weight' has dtype {np.dtype(arr.dtype)}; expected {dtype}, "
                        "the inputs' dtype (device inputs are not cast)")
    return DeviceArg(weight, arr, flatten(arr, where, "weight"), producer)


def out_buffers(cuda, where: str, out, count: int, shape: tuple, dtype: np.dtype, names: tuple[str, ...],
                stream) -> list[DeviceArg]:
    """Output buffers: given ones are checked, the others allocated on the device.

    ``out`` is None, one array (when ``count == 1``) or a sequence of ``count``
    entries, each a device array or None.  A given buffer is written in place and
    returned as it was given (a torch tensor stays a torch tensor).
    """
    if out is None:
        given = [None] * count
    elif not isinstance(out, (tuple, list)):
        if count != 1:
            raise TypeError(f"{where}: out must be a tuple of {count} arrays ({', '.join(names)})")
        given = [out]
    else:
        given = list(out)
        if len(given) != count:
            raise TypeError(f"{where}: out must hold {count} arrays ({', '.join(names)}), got {len(given)}")
    bufs = []
    for buf, name in zip(given, names):
        if buf is None:
            arr = cuda.device_array(shape, dtype, stream=stream)
            bufs.append(DeviceArg(arr, arr, flatten(arr, where, name), None))
            continue
        arr, producer = adopt(cuda, buf, where, name, writable=True)
        if tuple(arr.shape) != shape or np.dtype(arr.dtype) != dtype:
            raise ValueError(f"{where}: out '{name}' has shape {tuple(arr.shape)} and dtype {np.dtype(arr.dtype)}; "
                             f"expected shape {shape} and dtype {dtype}")
        if not arr.is_c_contiguous():
            raise ValueError(f"{where}: out '{name}' must be C-contiguous")
        bufs.append(DeviceArg(buf, arr, flatten(arr, where, name), producer))
    return bufs


def _extent(arr) -> tuple[int, int, tuple, tuple]:
    """(first byte, one past the last byte, shape, strides) of a device array's memory."""
    iface = getattr(arr, "__cuda_array_interface__", None) or arr.__array_interface__  # simulator arrays
    shape = tuple(iface["shape"])
    itemsize = np.dtype(iface["typestr"]).itemsize
    strides = iface.get("strides")
    if strides is None:
        strides, step = [], itemsize
        for n in reversed(shape):
            strides.insert(0, step)
            step *= n
        strides = tuple(strides)
    ptr = iface["data"][0]
    if 0 in shape:
        return ptr, ptr, shape, strides
    lo = ptr + sum(min(0, (n - 1) * s) for n, s in zip(shape, strides))
    hi = ptr + sum(max(0, (n - 1) * s) for n, s in zip(shape, strides)) + itemsize
    return lo, hi, shape, strides


def needs_separate_copy(x, outs) -> bool:
    """True if the 1-d device array ``x`` overlaps an output other than exactly.

    A kernel reads element i of every input before writing element i of every output,
    so an output that *is* an input (same memory, same strides) is safe; one that
    overlaps it shifted or with other strides is not (another thread may already have
    overwritten an element this one reads).  Such inputs are copied first, as on the CPU.
    """
    xlo, xhi, xshape, xstrides = _extent(x)
    if xlo == xhi:
        return False
    for o in outs:
        olo, ohi, oshape, ostrides = _extent(o)
        if olo < xhi and xlo < ohi and not (xlo == olo and xshape == oshape and xstrides == ostrides):
            return True
    return False


def order_after(cuda, producers, stream) -> None:
    """Make ``stream`` wait (on the device) for the streams that produced the arguments.

    ``producers`` are the stream handles that the arguments' interfaces declare (None:
    none declared).  The legacy default stream (1) and the per-thread default stream
    (2) already order themselves with Numba's default stream.
    """
    if stream == 0:
        ours, implicit = None, {None, 0, 1, 2}
    else:
        ours, implicit = int(stream), {None}
    waited = set()
    for ptr in producers:
        if ptr in implicit or ptr == ours or ptr in waited:
            continue
        waited.add(ptr)
        event = cuda.event(timing=False)
        event.record(stream=cuda.external_stream(ptr))
        event.wait(stream=stream)
