"""A loss named by the user, in whatever form the integrations accept.

``name_or_spec_path`` is a catalog name (``"huber"``), a path to a spec file
(``"my_loss.toml"``, a :class:`pathlib.Path`) or an already compiled
:class:`~lossgen.runtime.loss.Loss`.  :class:`LossRef` is the picklable form a worker
process resolves again (a Loss holds its imported module and cannot be pickled).
"""
from __future__ import annotations

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


@dataclass(frozen=True)
class LossRef:
    """How to find a loss again in another process: a catalog name or a spec path."""

    name: str | None = None
    path: str | None = None

    @classmethod
    def of(cls, name_or_spec_path, where: str = "lossgen") -> "LossRef":
        loss = resolve_loss(name_or_spec_path, where)   # fail early, in the caller's process
        if isinstance(name_or_spec_path, Loss):
            source = getattr(loss._spec, "source_path", "") if loss._spec is not None else ""
            if loss.module.__name__.startswith("lossgen_user.") and source:
                return cls(path=str(Path(source).resolve()))
            return cls(name=loss.name)
        if _is_path(name_or_spec_path):
            return cls(path=str(Path(name_or_spec_path).resolve()))
        return cls(name=str(name_or_spec_path))

    def resolve(self) -> Loss:
        return resolve_loss(self.path if self.path is not None else self.name)
