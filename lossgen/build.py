"""The pipeline of one spec: parse -> derive -> codegen, and writing the results.

Writing is all-or-nothing per file (write to a temporary file, then rename), and a
spec that fails to parse or generate writes nothing: previously generated files stay
intact.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .codegen.cpu import render_cpu_module
from .derive import derive
from .errors import BuildError, LossgenError
from .fingerprint import generator_sha256
from .paths import generated_dir, specs_dir
from .spec import Spec, load_spec


@dataclass
class Generated:
    """What one spec produces: file name (relative to the output dir) -> text."""

    spec: Spec
    files: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def source_label(path: Path) -> str:
    """How a generated header names its spec: relative to the catalog when inside it."""
    path = Path(path).resolve()
    try:
        return "specs/" + path.relative_to(specs_dir().resolve()).as_posix()
    except ValueError:
        return path.name


def generate(spec_path: str | Path) -> Generated:
    """Run the pipeline for one spec file, in memory."""
    t0 = time.perf_counter()
    spec = load_spec(spec_path)
    if not spec.is_elementwise:
        raise BuildError(f"{spec_path}: '{spec.name}' reduces over an axis (structured loss); code generation "
                         "for structured losses is not available yet: only elementwise losses build")
    derivs = derive(spec) if spec.differentiable else None
    text = render_cpu_module(spec, derivs, generator_sha256(), source_label(Path(spec_path)))
    return Generated(spec, {f"{spec.name}.py": text}, time.perf_counter() - t0)


def write_atomic(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically; return False if it already held exactly that."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


@dataclass
class BuildResult:
    path: Path
    name: str | None = None
    status: str = "ok"          # "written", "unchanged" or "failed"
    error: str | None = None
    seconds: float = 0.0
    files: tuple[str, ...] = ()


def catalog_spec_paths() -> list[Path]:
    return sorted(specs_dir().glob("*.toml"))


def build_one(spec_path: Path, out_dir: Path | None = None) -> BuildResult:
    out_dir = Path(out_dir) if out_dir is not None else generated_dir()
    t0 = time.perf_counter()
    try:
        gen = generate(spec_path)
    except LossgenError as exc:
        return BuildResult(Path(spec_path), status="failed", error=str(exc), seconds=time.perf_counter() - t0)
    changed = [name for name, text in gen.files.items() if write_atomic(out_dir / name, text)]
    return BuildResult(Path(spec_path), gen.spec.name, "written" if changed else "unchanged",
                       seconds=time.perf_counter() - t0, files=tuple(gen.files))


def stale_files(out_dir: Path | None = None) -> list[tuple[str, str]]:
    """Compare generated/ with a fresh generation of the catalog: [(file, reason)]."""
    out_dir = Path(out_dir) if out_dir is not None else generated_dir()
    problems: list[tuple[str, str]] = []
    expected: set[str] = set()
    for spec_path in catalog_spec_paths():
        try:
            gen = generate(spec_path)
        except LossgenError as exc:
            problems.append((str(spec_path), f"spec fails to build: {exc}"))
            continue
        for name, text in gen.files.items():
            expected.add(name)
            target = out_dir / name
            if not target.is_file():
                problems.append((str(target), "missing"))
            elif target.read_bytes() != text.encode("utf-8"):
                problems.append((str(target), "differs from what the spec generates (stale or hand-edited)"))
    for f in sorted(out_dir.glob("*.py")):
        if f.name not in expected and f.name != "__init__.py":
            problems.append((str(f), "no spec generates this file"))
    return problems
