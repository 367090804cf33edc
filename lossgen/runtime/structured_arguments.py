"""Check and normalise the arguments of a structured loss call (host or device arrays).

A structured module's ``INPUTS`` says what each input is:

* ``"axis"``: a float array of shape (n, K_a), K_a elements along its axis a
  (``INPUT_AXES``; a loss may have several axes, each with its own length, the same for
  every input of that axis).  An input with the role ``weight`` (class weights) may be
  given as (K_a,) — or left out: it is then all ones — and is broadcast over the rows;
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
    the number of rows n, the length of each axis, the result dtype and the reduction."""

    arrays: list
    params: list[float]
    n: int
    ks: dict[str, int]
    dtype: np.dtype
    reduction: str
    shape: tuple            # the shape of the first input (gradients of a set loss come back in it)

    def k_of(self, module, name: str) -> int:
        """The axis length of input ``name`` (an "axis" input, or an "index" input's arrays)."""
        return self.ks[module.INPUT_AXES[name]]


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
    shape = x0.shape
    if module.AXES == ("set",):
        n, ks, source = int(np.prod(shape)), {"set": int(np.prod(shape))}, {"set": first}
    else:
        n, ks, source = _lengths(module, where, names, kinds, given, optional)
    out = []
    for name in names:
        kind = kinds[name]
        axis = module.INPUT_AXES.get(name, module.AXES[0])
        k, ref = ks.get(axis, 0), source.get(axis, first)
        if name not in given or given[name] is None:
            out.append(ones((1, k) if kind == "axis" else (1,), dtype))
            continue
        a = _array(given[name], where, name)
        out.append(_check(a, name, kind, where, (axis, k, ref), (n, first), shape, dtype, name in optional))
    params = bind_params(where, module.PARAMS, kwargs)
    module.check_params(*params)
    if module.AXES == ("set",):
        out = [a.reshape(-1) for a in out]
    return Bound(out, params, n, ks, dtype, reduction, shape)


def _lengths(module, where, names, kinds, given, optional) -> tuple[int, dict[str, int], dict[str, str]]:
    """The number of rows n (from the first input), each axis's length K_a (from the
    first input of that axis given, in spec order) and that input's name; a later input
    that disagrees is refused by :func:`_check`, naming both."""
    first = _array(given[names[0]], where, names[0])
    want = 2 if kinds[names[0]] == "axis" else 1
    if first.ndim != want:
        expect = f"(n, K): one row of K '{module.INPUT_AXES[names[0]]}' elements per sample" if want == 2 else \
            "(n,): one value per sample"
        raise ValueError(f"{where}: argument '{names[0]}' has shape {first.shape}; expected {expect}")
    n = first.shape[0]
    ks: dict[str, int] = {}
    source: dict[str, str] = {}
    for name in names:
        axis = module.INPUT_AXES.get(name)
        if kinds[name] != "axis" or axis in ks or given.get(name) is None:
            continue
        a = _array(given[name], where, name)
        if a.ndim == 2 or (a.ndim == 1 and name in optional):
            ks[axis], source[axis] = a.shape[a.ndim - 1], name   # (the simulator's shapes take no -1)
    for axis in module.AXES:            # an axis whose only input is a left-out weight
        if axis not in ks:
            raise TypeError(f"{where}: no input gives the length of the axis '{axis}'")
    return n, ks, source


def _array(value, where, name):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not an array
        raise TypeError(f"{where}: argument '{name}' is not an array") from None


def _check(a, name, kind, where, axis_k_ref, n_ref, shape, dtype, optional):
    """``a`` checked against its kind: ``axis_k_ref`` = (its axis, that axis's length K, the
    input K was read from), ``n_ref`` = (the number of rows, the input it was read from)."""
    axis, k, ref = axis_k_ref
    n, first = n_ref
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
            why = (f"{a.shape[1]} '{axis}' elements per row, but '{ref}' has {k}" if a.ndim == 2 and a.shape[0] == n
                   else f"{a.shape[0]} rows, but '{first}' has {n}" if a.ndim == 2
                   else f"K = {k} '{axis}' elements per row")
            raise ValueError(f"{where}: argument '{name}' has shape {a.shape}; expected ({n}, {k}){also}: {why}")
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
        k = bound.k_of(module, name)
        if 0 <= a.min() and a.max() < k:  # two passes, no temporaries: the common case
            continue
        bad = (a < 0) | (a >= k)
        if ignore is not None:
            bad &= a != ignore
        if bad.any():
            v = int(a[np.argmax(bad)])
            raise ValueError(f"{where}: argument '{name}' holds the class index {v}, outside [0, {k})"
                             + (f" and not ignore_index={ignore:g}" if ignore is not None else ""))
