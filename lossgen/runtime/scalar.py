r"""Stable scalar primitives, compiled with ``numba.njit``.

Plain scalar Python using only ``math`` and comparisons, so that the same source
compiles for the CPU and as CUDA device functions.  Each is accurate in relative terms
over the whole float64 range (the accuracy certificate measures this against mpmath):

* ``sigmoid(x)``: 1/(1+e^{-x}) for x >= 0, e^{x}/(1+e^{x}) otherwise (no overflow).
* ``softplus(x) = max(x,0) + log1p(e^{-|x|})``; ``log_sigmoid(x) = min(x,0) - log1p(e^{-|x|})``.
* ``logcosh(x)``: log1p(2 sinh(|x|/2)^2) for |x| <= 1 (no cancellation near 0), else
  |x| + log1p(expm1(-2|x|)/2) (= |x| + log((1 + e^{-2|x|})/2); no overflow of cosh).
* ``logaddexp(a, b) = max(a,b) + log1p(e^{-|a-b|})`` (equal infinities handled).
* ``xlogy(x, y)``: 0 where x = 0, else x log y.
* ``log1pmx(x) = log(1+x) - x`` and ``expm1mx(x) = e^x - 1 - x``: series near 0, where
  the two terms would cancel (see their SymPy classes for the algorithms).
* ``sign``/``heaviside``: the midpoint subgradient at 0 (0 and 1/2); NaN propagates.

All are compiled with ``error_model="numpy"`` (as are the generated kernels): a float
division by zero gives inf/NaN as IEEE 754 says, instead of raising ZeroDivisionError.
"""
import math

import numba

_LOG2 = math.log(2.0)


@numba.njit(cache=True, error_model="numpy")
def sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True, error_model="numpy")
def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@numba.njit(cache=True, error_model="numpy")
def log_sigmoid(x):
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


@numba.njit(cache=True, error_model="numpy")
def logcosh(x):
    a = abs(x)
    if a <= 1.0:
        s = math.sinh(0.5 * a)
        return math.log1p(2.0 * s * s)
    return a + math.log1p(0.5 * math.expm1(-2.0 * a))


@numba.njit(cache=True, error_model="numpy")
def logaddexp(a, b):
    if a == b:
        return a + _LOG2
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@numba.njit(cache=True, error_model="numpy")
def xlogy(x, y):
    if x == 0:
        return 0.0 * y if y != y else 0.0
    return x * math.log(y)


@numba.njit(cache=True, error_model="numpy")
def log1p(x):
    return math.log1p(x)


@numba.njit(cache=True, error_model="numpy")
def expm1(x):
    return math.expm1(x)


@numba.njit(cache=True, error_model="numpy")
def sign(x):
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x * 0.0


@numba.njit(cache=True, error_model="numpy")
def heaviside(x):
    if x > 0:
        return 1.0
    if x < 0:
        return 0.0
    return 0.5 + x * 0.0


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


@numba.njit(cache=True, error_model="numpy")
def two_sum(a, b):
    s = a + b
    if not math.isfinite(s):
        return s, 0.0
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@numba.njit(cache=True, error_model="numpy")
def two_prod(a, b):
    p = a * b
    # (also |p| > _SPLIT_MAX: the partial product ah*bh may round past the largest double)
    if not abs(p) <= _SPLIT_MAX or abs(a) > _SPLIT_MAX or abs(b) > _SPLIT_MAX or p == 0.0:
        return p, 0.0
    t = _SPLITTER * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLITTER * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@numba.njit(cache=True, error_model="numpy")
def dd_add(ah, al, bh, bl):
    s, e = two_sum(ah, bh)
    e += al + bl
    return two_sum(s, e)


@numba.njit(cache=True, error_model="numpy")
def dd_mul(ah, al, bh, bl):
    p, e = two_prod(ah, bh)
    if not math.isfinite(p):
        return p, 0.0
    e += ah * bl + al * bh
    return two_sum(p, e)


@numba.njit(cache=True, error_model="numpy")
def dd_div(ah, al, bh, bl):
    q = ah / bh
    if not math.isfinite(q) or q == 0.0:
        return q, 0.0
    p, e = two_prod(q, bh)
    if not math.isfinite(p):  # q*b rounds past the largest double: q alone
        return q, 0.0
    r = ((ah - p) - e + al - q * bl) / bh
    return two_sum(q, r)


@numba.njit(cache=True, error_model="numpy")
def dd_sqrt(ah, al):
    s = math.sqrt(ah)
    if s == 0.0 or not math.isfinite(s):
        return s, 0.0
    p, e = two_prod(s, s)
    return two_sum(s, ((ah - p) - e + al) / (2.0 * s))


@numba.njit(cache=True, error_model="numpy")
def dd_apply(f, df, lo):
    """The pair for g(hi + lo) from f = g(hi) and df = g'(hi): first order in lo."""
    if lo == 0.0 or not math.isfinite(f):
        return f, 0.0
    return two_sum(f, df * lo)


_LN2_HI = 0.6931471805599453
_LN2_LO = 2.3190468138462996e-17
_EXP_SQUARINGS = 10        # exp(r) = exp(r/2**10)**(2**10)
_EXP_TERMS = 9             # Taylor terms of expm1 at |s| <= ln2/2**11


@numba.njit(cache=True, error_model="numpy")
def dd_exp(ah, al):
    """e^(ah + al) as a pair, to about 2**-100 relative (Taylor series after range
    reduction by k ln 2 and 2**-10, then squaring)."""
    if ah != ah:
        return ah, 0.0
    if ah > 709.78:
        return math.inf, 0.0
    if ah < -745.2:
        return 0.0, 0.0
    k = math.floor(ah / _LN2_HI + 0.5)
    p, e = two_prod(k, _LN2_HI)
    rh, rl = two_sum(ah, -p)
    rh, rl = two_sum(rh, (rl - e) + (al - k * _LN2_LO))
    sh = rh / 1024.0
    sl = rl / 1024.0
    # expm1(s) = s (1 + s/2 (1 + s/3 (1 + ...)))
    th, tl = 1.0, 0.0
    for j in range(_EXP_TERMS, 1, -1):
        th, tl = dd_mul(th, tl, sh, sl)
        th, tl = dd_div(th, tl, float(j), 0.0)
        th, tl = dd_add(1.0, 0.0, th, tl)
    th, tl = dd_mul(th, tl, sh, sl)
    # (1 + E)^2 - 1 = E (2 + E), ten times
    for _ in range(_EXP_SQUARINGS):
        uh, ul = dd_add(2.0, 0.0, th, tl)
        th, tl = dd_mul(th, tl, uh, ul)
    h, l = dd_add(1.0, 0.0, th, tl)
    if k > 1000:
        return h * 2.0 ** (k - 2) * 4.0, l * 2.0 ** (k - 2) * 4.0
    if k < -1000:  # two exact scalings while the result is normal (2**k alone underflows)
        s = 2.0 ** (k + 600)
        return h * s * 2.0 ** -600, l * s * 2.0 ** -600
    s = 2.0 ** k
    return h * s, l * s


@numba.njit(cache=True, error_model="numpy")
def dd_log(ah, al):
    """log(ah + al) as a pair, to about 2**-100: log(ah) corrected by one Newton step
    y + ((ah + al) e^{-y} - 1) with e^{-y} from dd_exp."""
    if not (ah > 0.0) or not math.isfinite(ah):
        return math.log(ah) if ah == ah else ah, 0.0
    y = math.log(ah)
    if ah < 1e-300 or ah > 1e300:
        return two_sum(y, al / ah)
    eh, el = dd_exp(-y, 0.0)
    th, tl = dd_mul(ah, al, eh, el)
    th, tl = dd_add(th, tl, -1.0, 0.0)
    return two_sum(y, th + tl)
