"""The catalog and user specs as :class:`~lossgen.runtime.loss.Loss` objects.

* :func:`catalog` — names of the catalog losses (``specs/*.toml``).
* :func:`get` — a catalog loss, from its module in ``generated/``.
* :func:`compile` — any spec file: generated into the user cache, keyed by the hash
  of the spec and of the generator, then imported (so Numba's on-disk cache works).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from .errors import LossgenError
from .fingerprint import generator_sha256
from .paths import cache_dir, generated_dir, specs_dir
from .runtime.loss import Loss

if TYPE_CHECKING:
    from .spec import Spec

# Getting a catalog loss imports its generated module and Numba, nothing else: the spec
# parser and the generator (SymPy, ~1 s) are imported only by spec_for and compile.


def catalog() -> list[str]:
    """Names of the catalog losses, sorted."""
    return sorted(p.stem for p in specs_dir().glob("*.toml"))


def _import_file(module_name: str, path: Path):
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def structured_catalog() -> list[str]:
    """Names of the structured catalog losses (``specs/structured/*.toml``), sorted."""
    return sorted(p.stem for p in (specs_dir() / "structured").glob("*.toml"))


@functools.lru_cache(maxsize=None)
def spec_for(name: str) -> Spec:
    path = specs_dir() / f"{name}.toml"
    if not path.is_file() and (specs_dir() / "structured" / f"{name}.toml").is_file():
        path = specs_dir() / "structured" / f"{name}.toml"
    if not path.is_file():
        raise LossgenError(f"no catalog loss named '{name}'")
    from .spec import load_spec
    return load_spec(path)


@functools.lru_cache(maxsize=None)
def get(name: str) -> Loss:
    """A catalog loss by name, e.g. ``lossgen.get("huber")``."""
    spec_path = specs_dir() / f"{name}.toml"
    if not spec_path.is_file() and (specs_dir() / "structured" / f"{name}.toml").is_file():
        from .runtime.structured import StructuredLoss
        spec_path = specs_dir() / "structured" / f"{name}.toml"
        return StructuredLoss(_current_module(spec_path, generated_dir() / "structured" / f"{name}.py",
                                              f"lossgen_generated.structured.{name}",
                                              f"lossgen build {spec_path}"))
    if not spec_path.is_file():
        close = [n for n in catalog() if n.startswith(name[:3])]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise LossgenError(f"no catalog loss named '{name}'{hint}; see lossgen.catalog()")
    return Loss(_current_module(spec_path, generated_dir() / f"{name}.py", f"lossgen_generated.{name}",
                                "lossgen build"))


def _current_module(spec_path: Path, module_path: Path, module_name: str, build_command: str):
    """The generated module of ``spec_path``, imported; a LossgenError naming
    ``build_command`` if it is missing or stale (its spec or the generator changed)."""
    if not module_path.is_file():
        raise LossgenError(f"{module_path} is missing: run `{build_command}`")
    module = _import_file(module_name, module_path)
    sha = hashlib.sha256(spec_path.read_bytes()).hexdigest()
    if module.SPEC_SHA256 != sha or module.GENERATOR_SHA256 != generator_sha256():
        raise LossgenError(f"{module_path} is stale (its spec or the generator changed since it was built): "
                           f"run `{build_command}`")
    return module


def compile(path: str | Path) -> Loss:  # noqa: A001 - the contract's name
    """Compile a spec file from anywhere on disk into a :class:`Loss`."""
    from .build import generate, write_atomic
    from .spec import load_spec
    path = Path(path)
    spec = load_spec(path)
    key = hashlib.sha256((spec.source_sha256 + generator_sha256()).encode()).hexdigest()[:16]
    module_name = f"lossgen_user.{spec.name}_{key}"
    wrap = Loss
    if not spec.is_elementwise:
        from .runtime.structured import StructuredLoss as wrap
    if module_name in sys.modules:
        return wrap(sys.modules[module_name], spec)
    target = cache_dir() / f"{spec.name}_{key}.py"
    if not target.is_file():
        gen = generate(path)
        write_atomic(target, gen.files[f"{spec.name}.py"])
    return wrap(_import_file(module_name, target), spec)
