r"""Branch-free elementary functions that LLVM vectorizes: ``exp``, ``expm1``, ``log``,
``log1p``, ``tanh``.

Numba compiles ``math.exp``/``math.log``/``math.log1p`` to calls into the C library, one
element at a time: a loop that calls them is never vectorized (Numba has no vector math
library here), and glibc's ``log1p`` alone costs about 15 ns.  The functions below are
straight-line double arithmetic, integer operations on the bits of a double and selects
(``a if c else b`` on values already computed), so a loop over them compiles to SIMD code.
They are compiled with ``forceinline=True`` (LLVM's ``alwaysinline``: a loop that calls a
function never vectorizes, and LLVM's inliner would leave bodies of this size as calls;
inlined instructions keep their own fast-math flags, none).  The same source compiles as
CUDA device code, and runs as plain Python in Numba's CUDA simulator (the bit casts fall
back to :mod:`struct`).

* :func:`exp` — :math:`e^x`: :math:`x = k \ln 2/64 + r`, :math:`|r| \le \ln 2/128` (ln 2/64 in
  two parts so that :math:`k \ln 2/64_{hi}` is exact), :math:`q = e^r - 1` by its degree-6
  Taylor polynomial, and :math:`e^x = 2^m\, 2^{j/64} (1 + q)` (:math:`k = 64m + j`) with
  :math:`2^{j/64}` from a table of double-double pairs, so that the result is rounded
  once: within 0.52 ulp.  The scaling by :math:`2^m` is in two factors (results down to
  the subnormals and up to the largest double).  inf above 709.78, 0 below -745.2.
  k is rounded by adding :math:`1.5 \cdot 2^{52}` and read as an integer from the sum's
  bits (AVX2 has no vector double-to-int64 conversion; ``int(k)`` made the loop scalar
  there: 5.1-5.3 -> 4.1-4.7 ns an element on one core of this machine).  The reduction
  is ``_exp_reduced``, which ``exp_hilo`` shares.
* :func:`exp_hilo` — :math:`e^x` as an unevaluated sum hi + lo: ``exp``'s algorithm with
  its last addition split exactly (Fast2Sum), so hi is ``exp(x)`` and hi + lo is within
  :math:`2^{-58}` relative (``EXP_HILO_ERROR``), for sums :math:`e^x - t` that cancel.
* :func:`expm1` — :math:`e^x - 1`: exp's reduction and table, except that for
  :math:`|x| < \ln 2/4` the index is 0 (:math:`r = x` exactly) and the result is the
  polynomial :math:`q = e^r - 1` itself (degree 12, the leading :math:`r` added last);
  else :math:`e^x - 1 = 2^m (T_{hi} - 2^{-m} + (T_{lo} + T_{hi} q))`, where
  :math:`T_{hi} - 2^{-m}` is exact for :math:`-1 \le m \le 52` (beyond 52 the
  :math:`2^{-m}` joins the small terms; below :math:`-1`, :math:`x < -0.7`, :math:`e^x`
  is formed first and 1 subtracted from it).  Within 0.76 ulp (0.751 measured); -1
  below -40, inf above 709.78, the sign of zero kept.
* :func:`tanh` — with :math:`a = |x|`: for :math:`a \le 0.55`,
  :math:`a - a z U(z)/Q(z)` (:math:`z = a^2`), the convergent of Lambert's continued
  fraction :math:`a/(1 + z/(3 + z/(5 + \dots z/15)))` with integer coefficients
  (:math:`8 \cdot 10^{-19}` relative there); above, :math:`1 - 2E/(1 + E)` with
  :math:`E = e^{-2a}` (the result is at least 1/2, so :math:`E`'s rounding costs at most
  3/4 ulp).  Within 1.4 ulp; :math:`\pm 1` at :math:`\pm\infty`, the sign of zero kept.
* :func:`log` — :math:`\ln x`: :math:`x = 2^k m`, :math:`m \in [\sqrt2/2, \sqrt2)` from the
  bits (subnormals scaled by :math:`2^{54}` first), :math:`f = m - 1` exactly, and
  :math:`\ln(1+f) = 2\,\mathrm{atanh}(s)`, :math:`s = f/(2+f)`, as
  :math:`f - f^2/2 + s (f^2/2 + R(s^2))` with :math:`R(z) = \sum_{j=1}^{12} 2z^j/(2j+1)`
  (truncation below :math:`2^{-62}` relative for :math:`|f| \le 0.55`; log's reduction
  leaves :math:`s^2 \le 0.0295`), the large terms added last (``_log_reduced``, which
  also serves ``scalar.logcosh``'s log1p of a moderate argument).
* :func:`log1p` — :math:`\ln(1+x)` as :math:`\ln u + c/u` with :math:`u = \mathrm{fl}(1+x)`
  and :math:`c = (1+x) - u` recovered exactly (Sterbenz): no cancellation near 0
  (:math:`\mathrm{log1p}(x) = x` for :math:`|x| < 2^{-53}`, the sign of zero kept).

Each is within 1 ulp of the exact value over its domain (``exp`` within 0.52 ulp, ``tanh``
within 1.4; measured against mpmath in ``tests/test_vecmath.py`` and
``tests/test_hyperbolic.py``) and gives IEEE 754's special values: NaN for NaN,
:math:`\ln 0 = -\infty`, NaN below the domain, inf for inf (-1 and :math:`\pm 1` for
``expm1`` and ``tanh`` at :math:`-\infty` and :math:`\pm\infty`).
"""
from __future__ import annotations

import math
import struct

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

LN2_HI = 0.6931471803691238       # ln 2 rounded to 32 significant bits: n*LN2_HI is exact
LN2_LO = 1.9082149292705877e-10   # ln 2 - LN2_HI
TWO54 = 18014398509481984.0       # 2**54: scales a subnormal into the normal range
SMALLEST_NORMAL = 2.2250738585072014e-308
SQRT_HALF_HIGH_BITS = 0x3fe6a09e  # the high 32 bits of sqrt(2)/2


# ---- bit casts: intrinsics when compiled, struct in plain Python ------------------------

@intrinsic
def _bits_as_float(typingctx, i):
    """The int64 ``i`` reinterpreted as the bits of a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


@intrinsic
def _float_as_bits(typingctx, x):
    """The float64 ``x``'s bits as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


def float_bits(x):
    """The bits of the double ``x`` as a signed 64-bit integer."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def bits_float(i):
    """The double whose bits are the (signed 64-bit) integer ``i``."""
    return struct.unpack("<d", struct.pack("<q", ((i + (1 << 63)) % (1 << 64)) - (1 << 63)))[0]


def select(c, a, b):
    """``a if c else b`` for floats, compiled to one LLVM ``select`` (no branch, both
    operands already computed), so that loops around it vectorize."""
    return a if c else b


def pow2(n):
    """2.0**n for an integer (or integer-valued) n in [-1022, 1023]."""
    return math.ldexp(1.0, int(n))


@intrinsic
def _select(typingctx, c, a, b):
    sig = types.float64(types.boolean, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])
    return sig, codegen


@overload(select, target="generic")  # CPU and CUDA
def _select_compiled(c, a, b):
    def impl(c, a, b):
        return _select(c, numba.float64(a), numba.float64(b))
    return impl


@overload(float_bits, target="generic")
def _float_bits_compiled(x):
    def impl(x):
        return _float_as_bits(numba.float64(x))
    return impl


@overload(bits_float, target="generic")
def _bits_float_compiled(i):
    def impl(i):
        return _bits_as_float(numba.int64(i))
    return impl


@overload(pow2, target="generic")
def _pow2_compiled(n):
    def impl(n):
        return _bits_as_float((numba.int64(n) + 1023) << 52)
    return impl


# ---- tables ------------------------------------------------------------------------------

def _exp_table(count: int, bits: int):
    """2^(i / 2^bits) for i = 0 .. count - 1 as pairs of doubles (hi + lo to ~2^-106),
    from Python's decimal arithmetic at 40 digits when this module is imported."""
    import decimal
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        n = 1 << bits
        exact = [decimal.Decimal(2) ** (decimal.Decimal(i) / n) for i in range(count)]
        hi = np.array([float(v) for v in exact])
        lo = np.array([float(v - decimal.Decimal(h)) for v, h in zip(exact, hi)])
    return hi, lo


def _ln2_parts(bits: int, hi_bits: int):
    """ln 2 / 2^bits as hi + mid + lo: hi with ``hi_bits`` significant bits (so k * hi
    is exact for |k| < 2^(53 - hi_bits)), mid and lo the next two doubles of the
    remainder."""
    import decimal
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        v = decimal.Decimal(2).ln() / (1 << bits)
        m, e = math.frexp(float(v))
        hi = math.ldexp(math.floor(m * 2.0 ** hi_bits) / 2.0 ** hi_bits, e)
        mid = float(v - decimal.Decimal(hi))
        return hi, mid, float(v - decimal.Decimal(hi) - decimal.Decimal(mid))


# exp: x = k ln2/64 + r, |r| <= ln2/128; 2^(k/64) = 2^m 2^(j/64) with k = 64 m + j
_EXP_HI, _EXP_LO = _exp_table(64, 6)
_LN2_64_HI, _LN2_64_MID, _ = _ln2_parts(6, 32)    # |k| < 2^17: k * hi exact
_INV_LN2_64 = 64.0 / math.log(2.0)
#: 1.5 * 2^52: y + this rounds y to an integer k (|k| < 2^51) held in the low bits
_ROUND_SHIFTER = 6755399441055744.0
_ROUND_SHIFTER_BITS = 0x4338000000000000


#: |hi + lo - e^x| / e^x of :func:`exp_hilo` is below this (2^-58; the roundings of r,
#: of r*q's terms and of s = lo_j + hi_j q, each at most 2^-53 |r| <= 2^-60.5 relative,
#: and the polynomial's truncation, 2^-64; measured: tests/test_vecmath.py)
EXP_HILO_ERROR = 2.0 ** -58

# ---- the functions ---------------------------------------------------------------------

@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _exp_reduced(x):
    """(th, s, m) with e^x = (th + s) 2^m to about 2^-58 relative, for x clamped to
    [-745.5, 709.9] (NaN as 0; the callers restore the special values): x = k ln2/64 + r,
    |r| <= ln2/128, k = 64 m + j, th = 2^(j/64)'s table hi, s = its lo + th (e^r - 1).
    k is rounded by adding 1.5 * 2^52 (its low bits are then k's two's complement), so
    that k as an integer comes from a bit cast: a double-to-int64 conversion has no
    vector instruction before AVX-512, and would make the loop scalar."""
    y = min(max(x, -745.5), 709.9)
    y = select(y != y, 0.0, y)
    kd = y * _INV_LN2_64 + _ROUND_SHIFTER
    k = kd - _ROUND_SHIFTER
    # r = y - k ln2/64: y - k*hi is exact (k*hi is, and the two are close); |r| < 0.0055
    r = (y - k * _LN2_64_HI) - k * _LN2_64_MID
    # q = e^r - 1 to degree 6 (the first term left out is below 2^-64 relative)
    q = r + r * r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0)))))
    ki = float_bits(kd) - _ROUND_SHIFTER_BITS
    j = ki & 63
    th = _EXP_HI[j]
    return th, _EXP_LO[j] + th * q, ki >> 6


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def exp(x):
    """e**x, branch-free (see the module docstring)."""
    th, s, m = _exp_reduced(x)
    # 2^(j/64) (1 + q) with 2^(j/64) = hi + lo: hi + (lo + hi q), one rounding at the end
    v = th + s
    m1 = m >> 1
    v = v * pow2(m1) * pow2(m - m1)
    v = select(x > 709.782712893384, math.inf, v)
    v = select(x < -745.1332191019412, 0.0, v)
    return select(x != x, x, v)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def exp_hilo(x):
    """e**x as an unevaluated sum hi + lo, branch-free: ``exp``'s algorithm with its last
    addition 2^(j/64) + s split exactly (Fast2Sum, |s| < 2^-7 2^(j/64)) instead of
    rounded, so hi + lo is e^x to about 2^-58 relative (``EXP_HILO_ERROR``; the
    reduction's and the polynomial's roundings remain), hi = ``exp(x)``.  For a sum
    e^x - t that cancels, (hi - t) + lo keeps those digits.  Where e^x is near or below
    the smallest normal, hi and lo are rounded to the subnormal grid (2^-1075 absolute);
    lo is 0 where hi is inf, 0 or NaN."""
    th, s, m = _exp_reduced(x)
    v = th + s
    w = s - (v - th)
    m1 = m >> 1
    scale1 = pow2(m1)
    scale2 = pow2(m - m1)
    v = v * scale1 * scale2
    w = w * scale1 * scale2
    v = select(x > 709.782712893384, math.inf, v)
    v = select(x < -745.1332191019412, 0.0, v)
    w = select((x > 709.782712893384) | (x < -745.1332191019412) | (x != x), 0.0, w)
    return select(x != x, x, v), w


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _reduce(u):
    """(k, f) with u = 2**k (1 + f), 1 + f in [sqrt(2)/2, sqrt(2)), f exact; u > 0 finite."""
    tiny = u < SMALLEST_NORMAL
    b = float_bits(select(tiny, u * TWO54, u))
    hx = (b >> 32) + (0x3ff00000 - SQRT_HALF_HIGH_BITS)
    k = (hx >> 20) - 0x3ff
    hm = (hx & 0x000fffff) + SQRT_HALF_HIGH_BITS
    m = bits_float((hm << 32) | (b & 0xffffffff))
    return float(k) - select(tiny, 54.0, 0.0), m - 1.0


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _log_reduced(k, f, c):
    """k ln 2 + ln(1 + f) + c for |f| <= 0.55 (log's reduction leaves |f| <= sqrt(2) - 1)
    and a small correction c: f - (f^2/2 - s (f^2/2 + R(s^2))), s = f/(2 + f), with k ln 2
    in two parts.  Pure arithmetic: its ``py_func`` runs on NumPy arrays too."""
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    # R(z) = sum_{j=1..12} 2 z^j/(2j+1) = z (c1 + c2 z + ... + c12 z^11), Estrin's scheme;
    # the first term left out is below 2^-62 relative for |f| <= 0.55 (z <= 0.047), so
    # scalar.logcosh's log1p of a moderate argument is this function with k = c = 0
    b1 = 2.0 / 3.0 + z * (2.0 / 5.0)
    b2 = 2.0 / 7.0 + z * (2.0 / 9.0)
    b3 = 2.0 / 11.0 + z * (2.0 / 13.0)
    b4 = 2.0 / 15.0 + z * (2.0 / 17.0)
    b5 = 2.0 / 19.0 + z * (2.0 / 21.0)
    b6 = 2.0 / 23.0 + z * (2.0 / 25.0)
    w2 = w * w
    big_r = z * ((b1 + b2 * w) + (b3 + b4 * w) * w2 + (b5 + b6 * w) * (w2 * w2))
    hfsq = 0.5 * f * f
    return k * LN2_HI - ((hfsq - (s * (hfsq + big_r) + (k * LN2_LO + c))) - f)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def log(x):
    """ln x, branch-free (see the module docstring)."""
    k, f = _reduce(select((x > 0.0) & (x < math.inf), x, 1.0))
    v = _log_reduced(k, f, 0.0)
    v = select(x == 0.0, -math.inf, v)
    v = select(x < 0.0, math.nan, v)
    return select((x != x) | (x == math.inf), x, v)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def log1p(x):
    """ln(1 + x), branch-free (see the module docstring)."""
    xs = select((x > -1.0) & (x < math.inf), x, 0.0)
    u = 1.0 + xs
    # (1 + x) - u exactly: for x < 1, u - 1 is exact; for x >= 1, u - x is
    c = select(xs >= 1.0, 1.0 - (u - xs), xs - (u - 1.0))
    k, f = _reduce(u)
    v = _log_reduced(k, f, c / u)
    v = select(x == 0.0, x, v)          # -0.0 stays -0.0
    v = select(x == -1.0, -math.inf, v)
    v = select(x < -1.0, math.nan, v)
    return select((x != x) | (x == math.inf), x, v)


# expm1: the reduction of exp, except that |x| < ln2/4 keeps k = 0 (r = x exactly), where
# e^x - 1 is the polynomial itself; its degree covers |r| <= ln2/4 (12 terms)
_EXPM1_SMALL = 0.25 * math.log(2.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _expm1_poly(r):
    """e^r - 1 for |r| <= ln2/4 by its Taylor polynomial of degree 12 (the first term
    left out is below 2^-62 relative), the leading r added last."""
    p = 1.0 / 479001600.0
    p = 1.0 / 39916800.0 + r * p
    p = 1.0 / 3628800.0 + r * p
    p = 1.0 / 362880.0 + r * p
    p = 1.0 / 40320.0 + r * p
    p = 1.0 / 5040.0 + r * p
    p = 1.0 / 720.0 + r * p
    p = 1.0 / 120.0 + r * p
    p = 1.0 / 24.0 + r * p
    p = 1.0 / 6.0 + r * p
    p = 0.5 + r * p
    return r + r * r * p


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def expm1(x):
    """e**x - 1, branch-free (see the module docstring): within 0.76 ulp."""
    y = min(max(x, -745.5), 709.9)
    y = select(y != y, 0.0, y)
    kd = select(abs(y) < _EXPM1_SMALL, _ROUND_SHIFTER, y * _INV_LN2_64 + _ROUND_SHIFTER)
    k = kd - _ROUND_SHIFTER     # as in _exp_reduced: k rounded, and as an integer by a bit cast
    r = (y - k * _LN2_64_HI) - k * _LN2_64_MID
    q = _expm1_poly(r)
    ki = float_bits(kd) - _ROUND_SHIFTER_BITS
    j = ki & 63
    m = ki >> 6
    # e^x - 1 = 2^m (T + T q - 2^-m), T = 2^(j/64) = hi + lo: hi - 2^-m is exact for
    # -1 <= m <= 52 (for k = 0 it is 0 and the result is q); beyond 52 the 2^-m joins
    # the small terms; below -1 (x < -0.7) e^x is formed first and 1 subtracted after it
    mc = min(max(m, -1), 1000)
    mid = (m >= -1) & (m <= 52)
    th = _EXP_HI[j]
    big_a = th - select(mid, pow2(-mc), 0.0)
    small_b = (_EXP_LO[j] + th * q) - select(m > 52, pow2(-mc), 0.0)
    m1 = m >> 1
    v = (big_a + small_b) * pow2(m1) * pow2(m - m1)
    v = select(m < -1, v - 1.0, v)
    v = select(x > 709.782712893384, math.inf, v)
    v = select(x < -40.0, -1.0, v)
    return select((x != x) | (x == 0.0), x, v)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _tanh_small(a):
    """tanh a for 0 <= a <= 0.55 as a - a z U(z)/Q(z), z = a^2, from the convergent of
    Lambert's continued fraction a/(1 + z/(3 + z/(5 + ... z/15))) (8e-19 relative on
    [0, 0.55]); the correction a z U/Q is at most a tenth of the result."""
    z = a * a
    u = ((z + 594.0) * z + 45045.0) * z + 675675.0
    q = (((z + 630.0) * z + 51975.0) * z + 945945.0) * z + 2027025.0
    return a - a * z * (u / q)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def tanh(x):
    """tanh x, branch-free, with a = |x|: for a <= 0.55 the rational form of
    :func:`_tanh_small`; above, 1 - 2E/(1 + E) with E = e^{-2a} (the result is at least
    1/2 there, so E's rounding costs at most 3/4 ulp; 1 for huge a, where E = 0).  Both
    are computed and one selected; the sign of x (and of zero) kept, NaN propagates.
    Within 1.4 ulp of the exact value (1.37 measured, near a = 0.6;
    tests/test_hyperbolic.py)."""
    a = abs(x)
    big_e = exp(-2.0 * a)
    t = select(a <= 0.55, _tanh_small(a), 1.0 - 2.0 * big_e / (1.0 + big_e))
    t = select(x < 0.0, -t, t)
    return select((x != x) | (x == 0.0), x, t)
