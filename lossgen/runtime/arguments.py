"""Check and normalise the arguments of a loss call before any kernel runs.

Every refusal is a ``TypeError`` or ``ValueError`` naming the loss, the method, the
argument and what was expected.  Accepted inputs: float32/float64 arrays of one shape,
contiguous or not, writeable or read-only; they are flattened to 1-d for the kernels.
"""
from __future__ import annotations

import math

import numpy as np

from . import buffers

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("none", "sum", "mean")


def as_float_array(value, where: str, argname: str) -> np.ndarray:
    """``value`` as an ndarray of float32/float64, or a TypeError naming ``argname``."""
    if hasattr(value, "__cuda_array_interface__") and not isinstance(value, np.ndarray):
        raise TypeError(f"{where}: argument '{argname}' is a device array; use .cuda for device arrays")
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where}: argument '{argname}' has dtype {arr.dtype}; expected float32 or float64 "
                        f"(convert with .astype(np.float64))")
    return arr


def bind_positional(where: str, input_names: tuple[str, ...], arrays: tuple, kwargs: dict) -> list:
    """The input values in spec order, from positional arguments then keywords (popped
    from ``kwargs``); TypeError for too many, missing or doubly given inputs."""
    if len(arrays) > len(input_names):
        raise TypeError(f"{where}: takes {len(input_names)} input arrays ({', '.join(input_names)}), "
                        f"got {len(arrays)}")
    values = list(arrays)
    for name in input_names[len(arrays):]:
        if name not in kwargs:
            raise TypeError(f"{where}: missing input array '{name}' (inputs: {', '.join(input_names)})")
        values.append(kwargs.pop(name))
    for name in input_names[:len(arrays)]:
        if name in kwargs:
            raise TypeError(f"{where}: input '{name}' given both by position and by keyword")
    return values


def plain_inputs(arrays: tuple, count: int) -> list[np.ndarray] | None:
    """The common case, checked in a few attribute reads: exactly ``count`` positional
    ndarrays (not subclasses) of one float dtype and one shape.  None otherwise, and
    :func:`bind_inputs` then does the full binding with its error messages."""
    if len(arrays) != count:
        return None
    x0 = arrays[0]
    if type(x0) is not np.ndarray:
        return None
    dtype, shape = x0.dtype, x0.shape
    if dtype not in FLOAT_DTYPES:
        return None
    for x in arrays:
        if type(x) is not np.ndarray or x.dtype != dtype or x.shape != shape:
            return None
    return list(arrays)


def bind_inputs(where: str, input_names: tuple[str, ...], arrays: tuple, kwargs: dict) -> list[np.ndarray]:
    """Bind positional/keyword inputs; check dtype and shape; cast to the first input's dtype."""
    values = bind_positional(where, input_names, arrays, kwargs)
    out = [as_float_array(v, where, n) for v, n in zip(values, input_names)]
    shape, dtype = out[0].shape, out[0].dtype
    for k in range(1, len(out)):
        if out[k].shape != shape:
            raise ValueError(f"{where}: argument '{input_names[k]}' has shape {out[k].shape}; expected "
                             f"{shape}, the shape of '{input_names[0]}'")
        if out[k].dtype != dtype:
            out[k] = out[k].astype(dtype)
    return out


def bind_params(where: str, params: tuple[tuple[str, float], ...], kwargs: dict) -> list[float]:
    """Parameter values from keywords (defaults otherwise), as finite floats."""
    values = []
    for name, default in params:
        v = kwargs.pop(name, default)
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: parameter '{name}' must be a real number, got {type(v).__name__}") from None
        if not math.isfinite(f):
            raise ValueError(f"{where}: parameter '{name}' must be finite, got {f}")
        values.append(f)
    if kwargs:
        known = ", ".join(n for n, _ in params) or "none"
        raise TypeError(f"{where}: unexpected keyword argument(s) {', '.join(sorted(kwargs))} "
                        f"(parameters: {known})")
    return values


def check_reduction(where: str, reduction) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of 'none', 'sum', 'mean'; got {reduction!r}")
    return reduction


def weight_vector(where: str, weight, shape, dtype, empty: np.ndarray) -> np.ndarray:
    """The flattened weights, or a length-0 array meaning 'no weights'."""
    if weight is None:
        return empty
    w = as_float_array(weight, where, "weight")
    if w.shape != shape:
        raise ValueError(f"{where}: argument 'weight' has shape {w.shape}; expected {shape}")
    return w.astype(dtype, copy=False).reshape(-1)


def out_buffers(where: str, out, count: int, shape, dtype, names: tuple[str, ...]) -> list[np.ndarray]:
    """Output arrays: given ones are checked (shape, dtype, writeable, C-contiguous), others
    allocated (:mod:`.buffers`: an array no one holds any more is reused).

    ``out`` is None, one array (when ``count == 1``) or a sequence of ``count`` entries,
    each an array or None.
    """
    if out is None:
        given = [None] * count
    elif isinstance(out, np.ndarray):
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
            bufs.append(buffers.empty(shape, dtype))     # recycled when the caller dropped an old one
            continue
        if not isinstance(buf, np.ndarray):
            raise TypeError(f"{where}: out '{name}' must be a numpy array, got {type(buf).__name__}")
        if buf.shape != shape or buf.dtype != dtype:
            raise ValueError(f"{where}: out '{name}' has shape {buf.shape} and dtype {buf.dtype}; expected "
                             f"shape {shape} and dtype {dtype}")
        if not buf.flags.writeable:
            raise ValueError(f"{where}: out '{name}' is read-only")
        if not buf.flags.c_contiguous:
            raise ValueError(f"{where}: out '{name}' must be C-contiguous")
        bufs.append(buf)
    return bufs


def separate_overlaps(flat_inputs: list[np.ndarray], weight: np.ndarray,
                      bufs: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Copies of the (flattened) inputs and weight that partially overlap an out buffer.

    The kernels read element i of every input before writing element i of every
    output, so an out buffer that *is* an input (same start, same strides) is safe.
    A buffer that overlaps an input shifted or with other strides is not: a parallel
    chunk would read elements another chunk has already overwritten.  Such inputs are
    copied first, as NumPy ufuncs do.
    """
    outs = [b.reshape(-1) for b in bufs if b.size]
    if not outs:
        return flat_inputs, weight

    def separate(x):
        for o in outs:
            if x.size and np.may_share_memory(x, o):
                same = (x.__array_interface__["data"][0] == o.__array_interface__["data"][0]
                        and x.strides == o.strides and x.shape == o.shape and x.dtype == o.dtype)
                if not same:
                    return x.copy()
        return x

    return [separate(x) for x in flat_inputs], separate(weight)
