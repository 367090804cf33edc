r"""Block-wise sums for the generated array kernels.

A sum kernel computes its elements' losses block by block (:data:`BLOCK` elements, cache
resident) into a small array, then adds the block with :func:`block_sum`, the one
function compiled with ``fastmath={"reassoc"}``: LLVM vectorizes the sum, while each
element's value is computed exactly as the point function says (its arithmetic is
inlined into the kernel, which has no fast-math flags; reassociation there would undo
the error-free transformations of the double-double code).  The block totals are added
in order by :func:`ordered_sum`, so the result depends on the length of the input only,
not on the number of threads.
"""
import numba

#: Elements per block: 4096 doubles (32 KiB) stay in the L1/L2 cache.
BLOCK = 4096


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def block_sum(values):
    """Sum of a 1-d float64 array, reassociated (vectorized) in a fixed order for a
    given length."""
    s = 0.0
    for i in range(values.shape[0]):
        s += values[i]
    return s


@numba.njit(cache=True, error_model="numpy")
def ordered_sum(values):
    """Sum of a 1-d float64 array, left to right."""
    s = 0.0
    for i in range(values.shape[0]):
        s += values[i]
    return s
