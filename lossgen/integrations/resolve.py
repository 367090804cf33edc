"""A loss named by the user, in whatever form the integrations accept.

``name_or_spec_path`` is a catalog name (``"huber"``), a path to a spec file
(``"my_loss.toml"``, a :class:`pathlib.Path`) or an already compiled
:class:`~lossgen.runtime.loss.Loss`.  :class:`LossRef` is the picklable form a worker
process resolves again (a Loss holds its imported module and cannot be pickled).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import LossgenError
from ..runtime.loss import Loss


def _is_path(value) -> bool:
    if isinstance(value, Path):
        return True
    return isinstance(value, str) and (value.endswith(".toml") or "/" in value or "\\" in value)


def resolve_loss(name_or_spec_path, where: str = "lossgen") -> Loss:
    """The :class:`Loss` for a catalog name, a spec path or a Loss (returned as is)."""
    from ..catalog import compile as compile_spec
    from ..catalog import get
    if isinstance(name_or_spec_path, Loss):
        return name_or_spec_path
    if _is_path(name_or_spec_path):
        path = Path(name_or_spec_path)
        if not path.is_file():
            raise LossgenError(f"{where}: no spec file {str(path)!r}")
        return compile_spec(path)
    if isinstance(name_or_spec_path, str):
        return get(name_or_spec_path)
    raise TypeError(f"{where}: expected a catalog loss name, a spec file path or a lossgen.Loss, "
                    f"got {type(name_or_spec_path).__name__}")


#: user specs by compiled module name (which the spec's hash keys): their bytes, read once
_USER_REFS: dict = {}


@dataclass(frozen=True)
class LossRef:
    """How to find a loss again in another process: a catalog name, or a user spec's
    bytes (so a worker on another machine needs no copy of the file: it writes them into
    its own lossgen cache and compiles them there, under the same hash-derived key)."""

    name: str | None = None
    spec_bytes: bytes | None = None
    spec_file: str | None = None

    @classmethod
    def of(cls, name_or_spec_path, where: str = "lossgen") -> LossRef:
        loss = resolve_loss(name_or_spec_path, where)   # fail early, in the caller's process
        key = loss.module.__name__
        if not key.startswith("lossgen_user."):
            return cls(name=loss.name)
        if key not in _USER_REFS:       # read once: the file may be edited or removed later
            source = Path(loss.spec.source_path)
            _USER_REFS[key] = cls(spec_bytes=source.read_bytes(), spec_file=source.name)
        return _USER_REFS[key]

    def resolve(self) -> Loss:
        if self.spec_bytes is None:
            return resolve_loss(self.name)
        from ..paths import cache_dir
        digest = hashlib.sha256(self.spec_bytes).hexdigest()[:16]
        path = cache_dir() / "specs" / f"{digest}-{self.spec_file}"
        if not path.is_file():
            from ..build import write_atomic
            write_atomic(path, self.spec_bytes.decode("utf-8"))
        return resolve_loss(path)
