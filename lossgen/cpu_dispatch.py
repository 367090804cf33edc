"""One NumPy code path on every x86-64 machine, so that generated files are reproducible.

NumPy computes float64 ``exp``, ``log``, ``expm1``, ``power``, ``tanh`` ... with code
chosen at import time for the CPU: its x86-64-v4 (AVX-512) paths and its x86-64-v3
(AVX2 + FMA) paths differ in the last bit for some arguments.  The lowering stage
measures candidate forms with NumPy, and the measured errors are printed in each
generated module (and, where two forms are close, decide which one is kept), so a module
generated on an AVX-512 machine differed from one generated on an AVX2 machine (12 of
the catalog's 39, in their lowering figures).  lossgen therefore caps NumPy at the
x86-64-v3 paths by setting ``NPY_DISABLE_CPU_FEATURES`` before NumPy is first imported
(``lossgen/__init__.py`` imports this module first; a value the user set is kept).
:func:`numpy_dispatch_problem` tells when NumPy was imported before that.
"""
from __future__ import annotations

import os
import sys

#: NumPy's names of the dispatch targets above x86-64-v3 (NumPy 2.4: X86_V4,
#: AVX512_ICL, AVX512_SPR; earlier releases: the AVX512 ones); unknown names are ignored
ABOVE_X86_64_V3 = ("X86_V4", "AVX512_ICL", "AVX512_SPR", "AVX512F", "AVX512CD", "AVX512_SKX", "AVX512_CLX",
                   "AVX512_CNL", "AVX512_KNL", "AVX512_KNM")

if "numpy" not in sys.modules:
    os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", " ".join(ABOVE_X86_64_V3))


def numpy_dispatch_problem() -> str | None:
    """Why NumPy's results may differ from those of the committed catalog (it runs code
    above x86-64-v3), or None."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    active = [name for name in ABOVE_X86_64_V3 if features.get(name)]
    if not active:
        return None
    return (f"NumPy runs its {', '.join(active)} code (it was imported before lossgen, or "
            "NPY_DISABLE_CPU_FEATURES was set otherwise): the lowering's measurements, and so the "
            "generated files, may differ in the last digits from the catalog's; import lossgen first")
