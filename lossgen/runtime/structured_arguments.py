"""Check and normalise the arguments of a structured loss call (host or device arrays).

A structured module's ``INPUTS`` says what each input is:

* ``"axis"``: a float array of shape (n, K) (K elements along the loss's axis).  An
  input with the role ``weight`` (class weights) may be given as (K,) — or left out:
  it is then all ones — and is broadcast over the rows;
* ``"row"``: a float array of shape (n,) (a set loss: any shape, the same for every input);
* ``"index"``: an integer array of shape (n,) (class indices for ``take``).

Every refusal names the loss, the method, the argument and the shape or dtype expected.
Nothing here launches a kernel; host and device arrays are checked alike (``shape``,
``dtype``), only the range of class indices is checked on the host.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arguments import FLOAT_DTYPES, bind_params, check_reduction


@dataclass
class Bound:
    """The checked call: arrays in spec order (2-d for "axis", 1-d otherwise), parameters,
    the number of rows n, the axis length K, the result dtype and the reduction."""

    arrays: list
    params: list[float]
    n: int
    k: int
    dtype: np.dtype
    reduction: str
    shape: tuple            # the shape of the first input (gradients come back in it)


def _optional_names(module) -> dict[str, str]:
    return {name: kind for name, role, _, kind in module.INPUTS if role == "weight"}


def bind_structured(module, where: str, arrays: tuple, kwargs: dict, reduction, ones) -> Bound:
    """Bind inputs and parameters of a call; ``ones(shape, dtype)`` makes a default weight
    array (NumPy or device)."""
    names = tuple(n for n, _, _, _ in module.INPUTS)
    kinds = {n: kind for n, _, _, kind in module.INPUTS}
    optional = _optional_names(module)
    reduction = check_reduction(where, module.DEFAULT_REDUCTION if reduction is None else reduction)
    required = tuple(n for n in names if n not in optional)
    given = dict(zip(names, arrays)) if len(arrays) <= len(names) else None
    if given is None:
        raise TypeError(f"{where}: takes at most {len(names)} input arrays ({', '.join(names)}), got {len(arrays)}")
    for name in names[len(arrays):]:
        if name in kwargs:
            given[name] = kwargs.pop(name)
    missing = [n for n in required if n not in given]
    if missing:
        raise TypeError(f"{where}: missing input array '{missing[0]}' (inputs: {', '.join(names)}"
                        + (f"; optional: {', '.join(optional)}" if optional else "") + ")")
    first = names[0]
    x0 = _array(given[first], where, first)
    if x0.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{where}: argument '{first}' has dtype {x0.dtype}; expected float32 or float64")
    dtype = x0.dtype
    if module.AXIS == "set":
        shape = x0.shape
        n, k = int(np.prod(shape)), 1
    else:
        if x0.ndim != 2:
            raise ValueError(f"{where}: argument '{first}' has shape {x0.shape}; expected (n, K): one row of "
                             f"K '{module.AXIS}' elements per sample")
        shape = x0.shape
        n, k = x0.shape
    out = []
    for name in names:
        kind = kinds[name]
        if name not in given or given[name] is None:
            out.append(ones((1, k) if kind == "axis" else (1,), dtype))
            continue
        a = _array(given[name], where, name)
        out.append(_check(a, name, kind, where, module.AXIS, n, k, shape, dtype, name in optional))
    params = bind_params(where, module.PARAMS, kwargs)
    module.check_params(*params)
    if module.AXIS == "set":
        out = [a.reshape(-1) for a in out]
    return Bound(out, params, n, k, dtype, reduction, shape)


def _array(value, where, name):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not an array
        raise TypeError(f"{where}: argument '{name}' is not an array") from None


def _check(a, name, kind, where, axis, n, k, shape, dtype, optional):
    if kind == "index":
        if np.dtype(a.dtype).kind not in "iu":
            raise TypeError(f"{where}: argument '{name}' has dtype {a.dtype}; expected an integer array of "
                            f"class indices, shape ({n},)")
        if a.shape != (n,):
            raise ValueError(f"{where}: argument '{name}' has shape {a.shape}; expected ({n},): one class "
                             "index per row")
        return a
    if np.dtype(a.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{where}: argument '{name}' has dtype {a.dtype}; expected float32 or float64")
    if a.dtype != dtype:
        a = a.astype(dtype)
    if axis == "set":
        if a.shape != shape:
            raise ValueError(f"{where}: argument '{name}' has shape {a.shape}; expected {shape}, the shape "
                             "of the first input")
        return a
    if kind == "axis":
        if optional and a.shape == (k,):
            return a.reshape(1, k)
        if a.shape != (n, k):
            also = f" or ({k},)" if optional else ""
            raise ValueError(f"{where}: argument '{name}' has shape {a.shape}; expected ({n}, {k}){also}: "
                             f"K = {k} '{axis}' elements per row")
        return a
    if a.shape != (n,):
        raise ValueError(f"{where}: argument '{name}' has shape {a.shape}; expected ({n},): one value per row")
    return a


def check_indices(module, where: str, bound: Bound) -> None:
    """Class indices within [0, K), or equal to the spec's ``ignore_index`` parameter (host arrays)."""
    params = dict(zip((p for p, _ in module.PARAMS), bound.params))
    ignore = params.get("ignore_index")
    for (name, _, _, kind), a in zip(module.INPUTS, bound.arrays):
        if kind != "index" or not isinstance(a, np.ndarray) or a.size == 0:
            continue
        if 0 <= a.min() and a.max() < bound.k:  # two passes, no temporaries: the common case
            continue
        bad = (a < 0) | (a >= bound.k)
        if ignore is not None:
            bad &= a != ignore
        if bad.any():
            v = int(a[np.argmax(bad)])
            raise ValueError(f"{where}: argument '{name}' holds the class index {v}, outside [0, {bound.k})"
                             + (f" and not ignore_index={ignore:g}" if ignore is not None else ""))
