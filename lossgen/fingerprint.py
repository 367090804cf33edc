"""The generator's fingerprint: a hash of every source file that shapes generated code.

A generated module records it in its header; a module whose fingerprint differs from
the running generator's is stale (``lossgen check``), and the user cache is keyed on it.
"""
from __future__ import annotations

import functools
import hashlib

from .paths import PACKAGE_DIR

#: Parts of the package whose text determines generated output.
GENERATOR_PARTS = ("_version.py", "spec", "primitives", "derive", "rewrite", "codegen", "runtime/scalar.py")


@functools.lru_cache(maxsize=1)
def generator_sha256() -> str:
    h = hashlib.sha256()
    for part in GENERATOR_PARTS:
        path = PACKAGE_DIR / part
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".py", ".j2")) \
            if path.is_dir() else [path]
        for f in files:
            h.update(f.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            h.update(f.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()
