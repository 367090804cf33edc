"""The lowering of a spec, computed once per spec and generator and kept on disk.

:func:`~lossgen.rewrite.lower.lower` measures every candidate form against mpmath (a
second for most losses, ten for focal), and two stages need its result: the code
generator (``lossgen build``) and the docs (each section shows the chosen forms and their
errors).  :func:`lowered` runs it once and stores the result, pickled, in the user cache
(``<cache>/lowered/NAME-KEY.pickle``): the generator measures afresh and stores what it
chose (:func:`remember`), and the docs stage of the same build reads it (:func:`lowered`)
instead of measuring again.

The key is the SHA-256 of the spec file, of the generator fingerprint (which covers this
package's lowering code and the SymPy and mpmath versions) and of the NumPy version (the
measurement evaluates candidates with NumPy): anything that could change the choice
changes the key.  A stored file that cannot be read is ignored and replaced, never
trusted partially; writing is atomic, so parallel builds never see half a file.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np

from ..derive.derivatives import Derivatives
from ..spec.model import Spec
from .lower import Lowered, lower


def store_key(spec: Spec) -> str:
    """What a stored lowering of ``spec`` depends on, as a hex digest."""
    from ..fingerprint import generator_sha256
    text = f"{spec.source_sha256}\0{generator_sha256()}\0numpy {np.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def store_path(spec: Spec) -> Path:
    from ..paths import cache_dir
    return cache_dir() / "lowered" / f"{spec.name}-{store_key(spec)}.pickle"


def lowered(spec: Spec, derivs: Derivatives | None) -> Lowered:
    """``lower(spec, derivs)``, read from the store when a build already computed it
    (``derivs`` must be ``derive(spec)``, as everywhere in lossgen)."""
    try:
        with open(store_path(spec), "rb") as fh:
            result = pickle.load(fh)
        if isinstance(result, Lowered):
            return result
    except Exception:  # noqa: BLE001 - missing, truncated or from another version: measure again
        pass
    return remember(spec, lower(spec, derivs))


def remember(spec: Spec, result: Lowered) -> Lowered:
    """Store ``result``, the lowering of ``spec``, and return it.  Written atomically; a
    store that cannot be written only makes the docs stage measure again."""
    path = store_path(spec)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError):
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return result
