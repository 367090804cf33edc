"""Where the docs live, what they were built from, and whether they are current.

Per catalog loss, in ``docs/catalog/``:

* ``NAME.tex``, ``NAME.md``, ``plots/NAME.png``: the section and its figure (a structured
  loss, ``specs/structured/NAME.toml``, has no figure, and keys of its own: :mod:`.structured`);
* ``NAME.json``: the record they were rendered from (:mod:`.facts`), the key of its
  inputs and the SHA-256 of each file above.

The key has four parts: the spec's SHA-256, the generator fingerprint
(:func:`lossgen.fingerprint.generator_sha256`: the kernels and derivations), the record
fingerprint (:func:`record_sha256`: the analysis stage and the docs modules that make a
record) and the render fingerprint (:func:`render_sha256`: plots and section templates).
A section whose key and file hashes match is current and not regenerated; when only the
render fingerprint changed, the stored record is rendered again (seconds, not minutes).
A file whose hash does not match was edited by hand.  ``docs/catalog/pdf.json`` records the SHA-256
of everything the PDF was compiled from, and of the PDF.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from ..fingerprint import source_sha256
from ..paths import specs_dir

#: Bump to regenerate every record / every rendering (a change of meaning the sources
#: do not show).
RECORD_VERSION = "1"
RENDER_VERSION = "1"
#: Sources whose text shapes a record (the expensive part: analysis, certificate) and
#: its rendering (cheap: plots, templates), relative to the package.
RECORD_PARTS = ("analysis", "docs/facts.py", "docs/latex.py", "docs/notes.py")
RENDER_PARTS = ("docs/pipeline.py", "docs/section.py", "docs/plots.py", "docs/templates/section.tex.j2",
                "docs/templates/section.md.j2")
#: the same for a structured loss's section (:mod:`.structured`; no plot)
STRUCTURED_RECORD_PARTS = RECORD_PARTS + ("docs/structured.py",)
STRUCTURED_RENDER_PARTS = ("docs/pipeline.py", "docs/section.py", "docs/structured.py",
                           "docs/templates/structured_section.tex.j2", "docs/templates/structured_section.md.j2")


def docs_dir() -> Path:
    """``LOSSGEN_DOCS_DIR``, else ``docs/`` beside the catalog's ``specs/``."""
    env = os.environ.get("LOSSGEN_DOCS_DIR")
    return Path(env) if env else specs_dir().resolve().parent / "docs"


_hash_parts = source_sha256


@functools.lru_cache(maxsize=2)
def record_sha256(structured: bool = False) -> str:
    if structured:
        return _hash_parts(f"lossgen docs structured record {RECORD_VERSION}", STRUCTURED_RECORD_PARTS)
    return _hash_parts(f"lossgen docs record {RECORD_VERSION}", RECORD_PARTS)


@functools.lru_cache(maxsize=2)
def render_sha256(structured: bool = False) -> str:
    if structured:
        return _hash_parts(f"lossgen docs structured render {RENDER_VERSION}", STRUCTURED_RENDER_PARTS)
    return _hash_parts(f"lossgen docs render {RENDER_VERSION}", RENDER_PARTS)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_of(spec_sha256: str, structured: bool = False) -> dict:
    from ..fingerprint import generator_sha256
    return {"spec_sha256": spec_sha256, "generator_sha256": generator_sha256(),
            "record_sha256": record_sha256(structured), "render_sha256": render_sha256(structured)}


#: key parts a stored record depends on (the render key only decides re-rendering)
RECORD_KEY = ("spec_sha256", "generator_sha256", "record_sha256")


def section_files(name: str, structured: bool = False) -> tuple[str, ...]:
    """Files of one section, relative to ``docs/catalog/`` (a structured loss has no plot)."""
    if structured:
        return (f"{name}.tex", f"{name}.md")
    return (f"{name}.tex", f"{name}.md", f"plots/{name}.png")


def read_manifest(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"key", "files", "record"} <= set(data) else None


def dump_manifest(key: dict, files: dict[str, bytes], record: dict) -> str:
    data = {"key": key, "files": {n: sha256(b) for n, b in sorted(files.items())}, "record": record}
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def section_status(folder: Path, name: str, spec_sha256: str, structured: bool = False) -> str | None:
    """Why the section of ``name`` in ``folder`` (``docs/catalog``) is not current, or None."""
    data = read_manifest(folder, name)
    if data is None:
        return "missing (no record)"
    want = key_of(spec_sha256, structured)
    why = {"spec_sha256": "stale: its spec changed since the docs were built",
           "generator_sha256": "stale: built by a different version of the generator",
           "record_sha256": "stale: built by a different version of the analysis or the docs' formulas",
           "render_sha256": "stale: rendered by a different version of the docs' templates or plots"}
    for part, reason in why.items():
        if data["key"].get(part) != want[part]:
            return reason
    for rel in section_files(name, structured):
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if sha256(path.read_bytes()) != data["files"].get(rel):
            return f"{rel} was edited by hand (its hash does not match the record)"
    return None
