"""The generator's fingerprint: a hash of every source file that shapes generated code,
and of the versions of the libraries that do (SymPy prints and simplifies; mpmath's
values decide which candidate form the lowering stage keeps).

A generated module records it in its header; a module whose fingerprint differs from
the running generator's is stale (``lossgen check``), and the user cache is keyed on it.
"""
from __future__ import annotations

import functools
import hashlib
from importlib.metadata import version

from .paths import PACKAGE_DIR

#: Parts of the package whose text determines generated output, or the machine code
#: compiled from it (a generated module inlines the runtime's functions: changing them
#: must change the module's text, so that Numba's cache of it is not used).
GENERATOR_PARTS = ("_version.py", "spec", "primitives", "derive", "rewrite", "verify", "codegen",
                   "runtime/scalar.py", "runtime/rowmath.py", "runtime/vecmath.py", "runtime/blocks.py")


def source_sha256(label: str, parts: tuple[str, ...]) -> str:
    """SHA-256 of ``label`` and the text of ``parts`` (files or folders of the package:
    their .py and .j2 files, by relative path, line endings normalised)."""
    h = hashlib.sha256(f"{label}\0".encode())
    for part in parts:
        path = PACKAGE_DIR / part
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".py", ".j2")) \
            if path.is_dir() else [path]
        for f in files:
            h.update(f.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            h.update(f.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def generator_sha256() -> str:
    # the installed versions, read without importing SymPy (about a second)
    return source_sha256(f"sympy {version('sympy')}\0mpmath {version('mpmath')}", GENERATOR_PARTS)
