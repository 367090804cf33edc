r"""Stable scalar primitives, compiled with ``numba.njit``.

Plain scalar Python using only ``math``, comparisons and the branch-free ``exp``,
``expm1``, ``log``, ``log1p``, ``tanh`` and ``select`` of :mod:`lossgen.runtime.vecmath`
(``expm1`` and ``tanh`` are re-exported here: generated code calls them), so that the same
source compiles for the CPU and as CUDA device functions, and the elementwise primitives
(sigmoid through heaviside below) have no branches: a kernel's loop over them vectorizes.
Each is accurate in relative terms over the whole float64 range (the accuracy certificate
measures this against mpmath):

* ``sigmoid(x)``: 1/(1+e^{-x}) for x >= 0, e^{x}/(1+e^{x}) otherwise (no overflow),
  both through e^{-|x|}, the exponential softplus and log_sigmoid share.
* ``softplus(x) = max(x,0) + log1p(e^{-|x|})``; ``log_sigmoid(x) = min(x,0) - log1p(e^{-|x|})``.
* ``logcosh(x)``: with a = |x|, log1p(cosh a - 1) for a <= 1, cosh a - 1 = 2 sinh(a/2)^2
  by its series a^2/2! + ... + a^20/20! with a^2 exact as a pair (no cancellation near 0,
  x^2/2 underflows gradually), else (a - LN2_HI) + (log1p(e^{-2a}) - LN2_LO)
  (= a + log((1 + e^{-2a})/2) with ln 2 in two parts; no overflow of cosh); one log1p,
  of the selected argument (in [0, 0.55]: vecmath's log series without its reduction).
  Within 1.6 ulp (``tests/test_hyperbolic.py``).
* ``logaddexp(a, b) = max(a,b) + log1p(e^{-|a-b|})`` (equal infinities handled).
* ``xlogy(x, y)``: 0 where x = 0, else x log y.
* ``mul_sigmoid(a, x) = a sigmoid(x)``: for x <= -700 (where sigmoid(x) = e^x to double
  precision) as (a e^{x/2}) e^{x/2}, so no factor is subnormal before the final product.
* ``log1pmx(x) = log(1+x) - x`` and ``expm1mx(x) = e^x - 1 - x``: series near 0, where
  the two terms would cancel (see their SymPy classes for the algorithms).
* ``sign``/``heaviside``: the midpoint subgradient at 0 (0 and 1/2); NaN propagates.

All are compiled with ``error_model="numpy"`` (as are the generated kernels): a float
division by zero gives inf/NaN as IEEE 754 says, instead of raising ZeroDivisionError.
"""
import math

import numba
import numpy as np

from .vecmath import (LN2_HI, LN2_LO, _ROUND_SHIFTER, _ROUND_SHIFTER_BITS, _exp_table, _ln2_parts, _log_reduced, exp,
                      exp_hilo, expm1, float_bits, log, log1p, pow2, select, tanh)

_LOG2 = math.log(2.0)

#: mul_sigmoid(a, x) multiplies a by sigmoid(x) above this x, and below it (where
#: sigmoid(x) = e^x to double precision) scales: (a e^{x/2}) e^{x/2}.  The primitive's
#: NumPy twin and the double-double programs switch at the same x.
MUL_SIGMOID_SWITCH = -700.0


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def sigmoid(x):
    # e^{-|x|} is the e^{-x} (x >= 0) or e^{x} (x < 0) of the two branches: the same
    # value, written so that a point function calling softplus, log_sigmoid or sigmoid of
    # +-x computes the exponential once (the compiler merges identical computations)
    e = exp(-abs(x))
    return select(x >= 0.0, 1.0, e) / (1.0 + e)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def mul_sigmoid(a, x):
    h = exp(0.5 * x)
    # x < -1490: |a| e^x < 1.8e308 e^-1490 rounds to 0 (also for a = inf)
    far = select((h == 0.0) & (a == a), 0.0, (a * h) * h)
    return select(x > MUL_SIGMOID_SWITCH, a * sigmoid(x), far)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def softplus(x):
    return max(x, 0.0) + log1p(exp(-abs(x)))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def log_sigmoid(x):
    return min(x, 0.0) - log1p(exp(-abs(x)))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _cosh_minus_one(a):
    """cosh a - 1 = a^2/2 + a^4/4! + ... + a^20/20! for 0 <= a <= 1 (the first term left
    out is below 2^-60 relative), with a^2 = zh + zl exactly (Dekker), so that the
    leading a^2/2 is exact and the sum is rounded once: within 0.6 ulp.  a^2/2 underflows
    gradually (to 0 below 1.5e-162, as the exact value does).  Pure arithmetic: its
    ``py_func`` runs on NumPy arrays too."""
    zh = a * a
    t = 134217729.0 * a
    ah = t - (t - a)
    al = a - ah
    zl = ((ah * ah - zh) + 2.0 * ah * al) + al * al
    q = 1.0 / 2432902008176640000.0
    q = 1.0 / 6402373705728000.0 + zh * q
    q = 1.0 / 20922789888000.0 + zh * q
    q = 1.0 / 87178291200.0 + zh * q
    q = 1.0 / 479001600.0 + zh * q
    q = 1.0 / 3628800.0 + zh * q
    q = 1.0 / 40320.0 + zh * q
    q = 1.0 / 720.0 + zh * q
    q = 1.0 / 24.0 + zh * q
    return 0.5 * zh + (0.5 * zl + (zh * zh) * q)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _log1p_moderate(f):
    """log(1 + f) for 0 <= f <= 0.55 (NaN propagates): vecmath's log without its
    reduction (k = 0 and f exact), f - (f^2/2 - s (f^2/2 + R(s^2))), s = f/(2 + f):
    no bit operations, no second division and no special cases."""
    return _log_reduced(0.0, f, 0.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def logcosh(x):
    """log cosh x, branch-free, with a = |x|: log1p(u) with u = cosh a - 1 from its
    series for a <= 1 (nothing cancels near 0; x^2/2 underflows gradually), and above 1
    (a - LN2_HI) + (log1p(u) - LN2_LO) with u = e^{-2a}, i.e. a + log((1 + e^{-2a})/2)
    with ln 2 in two parts (a - LN2_HI is exact up to a = 1.386; log1p(u) is 0.13 or
    less).  One log1p, of the selected u (0 <= u <= 0.55, so :func:`_log1p_moderate`).
    The series runs on min(a, 1) and stays finite; e^{-2a} underflows to 0 for huge a:
    inf gives inf, NaN NaN.  Within 1.6 ulp of the exact value (1.55 measured near
    |x| = 0.97; tests/test_hyperbolic.py)."""
    a = abs(x)
    near = a <= 1.0
    u = _log1p_moderate(select(near, _cosh_minus_one(min(a, 1.0)), exp(-2.0 * a)))
    return select(near, u, (a - LN2_HI) + (u - LN2_LO))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def logaddexp(a, b):
    # a == b: also equal infinities, where a - b is NaN
    return select(a == b, a + _LOG2, max(a, b) + log1p(exp(-abs(a - b))))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def xlogy(x, y):
    return select(x == 0.0, select(y != y, y, 0.0), x * log(y))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def sign(x):
    return select(x > 0.0, 1.0, select(x < 0.0, -1.0, x * 0.0))


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def heaviside(x):
    return select(x > 0.0, 1.0, select(x < 0.0, 0.0, 0.5 + x * 0.0))


@numba.njit(cache=True, error_model="numpy")
def log1pmx(x):
    if not (-0.7 <= x <= 1.0):  # NaN too: the series below would never end
        return math.log1p(x) - x
    # u = x/(2 + x) and u*x to about 2**-100 (two_sum/two_prod below): near x = -0.8
    # the result is -u*x plus a smaller positive series, and u's rounding would cost ulps
    dh, dl = two_sum(2.0, x)
    u = x / dh
    p, e = two_prod(u, dh)
    u_lo = ((x - p) - e - u * dl) / dh
    ux, ux_lo = two_prod(u, x)
    ux_lo += u_lo * x
    s = u * u
    series = 1.0 / 3.0  # 1/3 + s/5 + s^2/7 + ..., summed until the terms are negligible
    term = 1.0
    k = 2
    while True:
        term *= s
        add = term / (2 * k + 1)
        if add <= 1e-17 * series:
            break
        series += add
        k += 1
    # 2 (atanh(u) - u) has derivative 2 s/(1 - s) in u: carry u's low part through it
    return (2.0 * (u * s * series) + (2.0 * s / (1.0 - s) * u_lo - ux_lo)) - ux


@numba.njit(cache=True, error_model="numpy")
def expm1mx(x):
    if x < -1.0 or x > 2.0:
        return math.expm1(x) - x
    acc = 1.0
    for k in range(29, 2, -1):  # x^2/2 (1 + x/3 (1 + x/4 (1 + ...))) (EXPM1MX_TERMS)
        acc = 1.0 + x * acc / k
    return 0.5 * x * x * acc


# ---- double-double arithmetic for compensated forms --------------------------------
# A value is a pair (hi, lo) with |lo| <= ulp(hi)/2 and hi + lo the number to about
# 2**-104 relative (Dekker 1971; Shewchuk 1997).  Used where a form cancels or an ill-
# conditioned function amplifies rounding: the kernel evaluates the expression on pairs
# and rounds once at the end.  Products and splits near the overflow threshold give up
# the low part (lo = 0) rather than produce inf - inf.

_SPLITTER = 134217729.0  # 2**27 + 1
_SPLIT_MAX = 1e300


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def two_sum(a, b):
    s = a + b
    bb = s - a
    return s, select(abs(s) < math.inf, (a - (s - bb)) + (b - bb), 0.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def two_prod(a, b):
    p, e = _two_prod_normal(a, b)
    # (also |p| > _SPLIT_MAX: the partial product ah*bh may round past the largest double)
    ok = (abs(p) <= _SPLIT_MAX) & (abs(a) <= _SPLIT_MAX) & (abs(b) <= _SPLIT_MAX) & (p != 0.0)
    return p, select(ok, e, 0.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _two_prod_normal(a, b):
    """a * b as an exact pair by Dekker's splitting, for factors whose product and
    splits stay finite (two_prod checks; dd_exp's factors are moderate by construction)."""
    p = a * b
    t = _SPLITTER * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLITTER * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_add(ah, al, bh, bl):
    s, e = two_sum(ah, bh)
    e += al + bl
    return two_sum(s, e)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _pair_if(ok, h, l, fallback):
    """(h, l) where ok, else (fallback, 0): the special cases of the pair operations,
    selected after the fact so that no operation branches."""
    return select(ok, h, fallback), select(ok, l, 0.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_mul(ah, al, bh, bl):
    p, e = two_prod(ah, bh)
    e += ah * bl + al * bh
    h, l = two_sum(p, e)
    return _pair_if(abs(p) < math.inf, h, l, p)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_div(ah, al, bh, bl):
    q = ah / bh
    p, e = two_prod(q, bh)
    r = ((ah - p) - e + al - q * bl) / bh
    h, l = two_sum(q, r)
    # q infinite, NaN or 0, or q*b rounding past the largest double: q alone
    return _pair_if((abs(q) < math.inf) & (q != 0.0) & (abs(p) < math.inf), h, l, q)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_sqrt(ah, al):
    s = math.sqrt(ah)
    p, e = two_prod(s, s)
    h, l = two_sum(s, ((ah - p) - e + al) / (2.0 * s))
    return _pair_if((s != 0.0) & (abs(s) < math.inf), h, l, s)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_apply(f, df, lo):
    """The pair for g(hi + lo) from f = g(hi) and df = g'(hi): first order in lo."""
    h, l = two_sum(f, df * lo)
    return _pair_if((lo != 0.0) & (abs(f) < math.inf), h, l, f)


# e^x = 2^(k / 2^16) e^r: k = 2^16 m + 2^8 j + i, 2^(k / 2^16) = 2^m 2^(j/2^8) 2^(i/2^16)
# from two tables of 256 pairs (8 KiB in all), and |r| <= ln2 / 2^17 < 2^-17.5
_EXP_COARSE_HI, _EXP_COARSE_LO = _exp_table(256, 8)
_EXP_FINE_HI, _EXP_FINE_LO = _exp_table(256, 16)
# |k| < 2^27 for |x| < 746, so hi gets 25 bits (k * hi exact)
_LN2_N_HI, _LN2_N_MID, _LN2_N_LO = _ln2_parts(16, 25)
_INV_LN2_N = (1 << 16) / math.log(2.0)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def _fast_two_sum(a, b):
    """a + b as an exact pair when |a| >= |b| (or a == 0)."""
    s = a + b
    return s, b - (s - a)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_exp(ah, al):
    """e^(ah + al) as a pair, to about 2**-100 relative (2**-104 where al = 0).

    Reduction ah + al = k ln2/2^16 + r with |r| <= ln2/2^17; then
    e^x = 2^m 2^(j/2^8) 2^(i/2^16) (1 + E) with k = 2^16 m + 2^8 j + i, the two powers
    from tables of double-double pairs, and E = expm1(r) = r + r^2/2 + r^3/6 + r^4/24
    + r^5/120: only r + r^2/2 needs double-double care (r^3/6 < 2^-55), so this is four
    exact products and a handful of sums, with no loop and no branch (NaN, overflow and
    underflow are selected at the end; the arithmetic runs on a clamped argument)."""
    x = min(max(ah, -745.2), 709.78)
    x = select(x != x, 0.0, x)
    kd = x * _INV_LN2_N + _ROUND_SHIFTER     # k rounded, as an integer by a bit cast (vecmath)
    k = kd - _ROUND_SHIFTER
    # r = ah + al - k ln2/2^16: k * hi is exact and so is ah - k * hi (Sterbenz);
    # k * mid as an exact pair; k * lo is below 2^-68 and needs no pair
    pm, em = _two_prod_normal(k, _LN2_N_MID)
    rh, rl = two_sum(x - k * _LN2_N_HI, -pm)
    rh, rl = two_sum(rh, rl + (select(x == ah, al, 0.0) - em - k * _LN2_N_LO))
    # E = rh + [rh^2/2 + (rl + rh rl + r^3/6 + r^4/24 + r^5/120)], the bracket as a pair
    sh, sl = _two_prod_normal(rh, rh)
    rest = rl + (0.5 * sl + rh * rl + rh * sh * (1.0 / 6.0 + rh * (1.0 / 24.0 + rh * (1.0 / 120.0))))
    wh, wl = two_sum(0.5 * sh, rest)
    eh, el = two_sum(rh, wh)
    el += wl
    ki = float_bits(kd) - _ROUND_SHIFTER_BITS
    i = ki & 255
    j = (ki >> 8) & 255
    m = ki >> 16
    # T = 2^(j/2^8) 2^(i/2^16) as a pair, then T (1 + E) = T + T E
    th, tl = _two_prod_normal(_EXP_COARSE_HI[j], _EXP_FINE_HI[i])
    tl += _EXP_COARSE_HI[j] * _EXP_FINE_LO[i] + _EXP_COARSE_LO[j] * _EXP_FINE_HI[i]
    th, tl = _fast_two_sum(th, tl)
    ph, pl = _two_prod_normal(th, eh)
    pl += th * el + tl * eh
    h, l = _fast_two_sum(th, ph)
    h, l = _fast_two_sum(h, l + tl + pl)
    # times 2^m in two exact steps while the result is normal (2^m alone may overflow
    # or underflow where the product does not)
    m1 = m >> 1
    s1, s2 = pow2(m1), pow2(m - m1)
    h, l = h * s1 * s2, l * s1 * s2
    h, l = _pair_if(ah <= 709.78, h, l, math.inf)
    h, l = _pair_if(ah >= -745.2, h, l, 0.0)
    return _pair_if(ah == ah, h, l, ah)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_log(ah, al):
    """log(ah + al) as a pair, to about 2**-100: log(ah) corrected by one Newton step
    y + ((ah + al) e^{-y} - 1) with e^{-y} from dd_exp; beyond 1e(+-)300 (where e^{-y}
    would leave the range) to first order, y + al/ah; log(ah) alone where that is not
    finite (ah <= 0, inf, NaN)."""
    y = log(ah)
    eh, el = dd_exp(-y, 0.0)
    th, tl = dd_mul(ah, al, eh, el)
    th, tl = dd_add(th, tl, -1.0, 0.0)
    h, l = two_sum(y, select((ah < 1e-300) | (ah > 1e300), al / ah, th + tl))
    return _pair_if((ah > 0.0) & (ah < math.inf), h, l, y)


@numba.njit(cache=True, error_model="numpy", forceinline=True)
def dd_select(c, ah, al, bh, bl):
    """(ah, al) if c else (bh, bl): a select of two pairs already computed."""
    return select(c, ah, bh), select(c, al, bl)
