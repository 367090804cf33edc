"""Where the catalog's specs and generated modules live, and the user cache."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_REPO = PACKAGE_DIR.parent
_BUNDLED = PACKAGE_DIR / "_catalog"


def _pick(name: str) -> Path:
    # A source checkout (editable install) keeps specs/ and generated/ at the top level;
    # a wheel carries them inside the package.
    repo = _REPO / name
    return repo if repo.is_dir() or not (_BUNDLED / name).is_dir() else _BUNDLED / name


def specs_dir() -> Path:
    return Path(os.environ.get("LOSSGEN_SPECS_DIR") or _pick("specs"))


def generated_dir() -> Path:
    return Path(os.environ.get("LOSSGEN_GENERATED_DIR") or _pick("generated"))


def cache_dir() -> Path:
    """Generated modules of user specs (``lossgen.compile``), keyed by hash."""
    base = os.environ.get("LOSSGEN_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lossgen"
