"""The catalog document: ``docs/catalog.tex`` and ``docs/catalog.md`` assembled from the
section records, and ``docs/catalog.pdf`` compiled with pdflatex.

Assembly is cheap (no analysis): a summary table (convex? differentiable? bounded
influence? NLL of which distribution? typical use), one section per loss (``\\input``),
and an index of terms (names, titles, categories, torch functions, distributions,
properties) with page references.

The PDF is reproducible byte for byte: pdflatex runs three times in a scratch directory with
``SOURCE_DATE_EPOCH`` and ``FORCE_SOURCE_DATE=1``, and the document sets
``\\pdfinfoomitdate``, ``\\pdftrailerid{}`` and ``\\pdfsuppressptexinfo``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import LossgenError
from .section import environment, yesno
from .store import sha256

#: 2026-01-01T00:00:00Z: the date pdflatex is told it is (it appears nowhere visible)
SOURCE_DATE_EPOCH = "1767225600"
PDFLATEX_RUNS = 3   # the table of contents and page references settle on the third run


class DocsError(LossgenError):
    """The docs could not be built (the message says why)."""


def index_terms(records: list[dict]) -> list[tuple[str, list[str]]]:
    """Alphabetical (term, [loss names]) for the index."""
    terms: dict[str, set[str]] = {}

    def add(term, name):
        if term and term != "-":
            terms.setdefault(str(term), set()).add(name)
    for r in records:
        n, s = r["name"], r["row"]
        add(r["title"], n)
        add(n, n)
        add(f"category: {r['category']}", n)
        if r.get("torch"):
            add(f"torch.nn.functional.{r['torch']}", n)
        add(f"negative log-likelihood: {s['nll']}", n)
        add({True: "convex", False: "non-convex"}.get(s["convex"]), n)
        add({True: "differentiable", False: "not differentiable"}.get(s["differentiable"]), n)
        add({True: "bounded influence", False: "unbounded influence"}.get(s["bounded_influence"]), n)
        if (r["properties"] or {}).get("redescending"):
            add("redescending", n)
        for p in r["params"]:
            add(f"parameter: {p['name']}", n)
    return [(t, sorted(terms[t])) for t in sorted(terms, key=lambda t: (t.lower(), t))]


def _parts(records: list[dict]) -> dict:
    """The elementwise records, and the structured ones grouped by category (alphabetical)."""
    elementwise = [r for r in records if not r.get("structured")]
    structured = [r for r in records if r.get("structured")]
    groups = [(c, [r for r in structured if r["category"] == c]) for c in sorted({r["category"] for r in structured})]
    return {"records": elementwise, "structured": [r for _, g in groups for r in g], "groups": groups,
            "index": index_terms(records), "count": len(elementwise), "structured_count": len(structured),
            "yesno": yesno}


def render_catalog_tex(records: list[dict]) -> str:
    return environment().get_template("catalog.tex.j2").render(**_parts(records))


def render_catalog_md(records: list[dict], sections: dict[str, str]) -> str:
    return environment().get_template("catalog.md.j2").render(sections=sections, **_parts(records))


def _structured_names() -> set[str]:
    from ..build import structured_spec_paths
    return {p.stem for p in structured_spec_paths()}


def pdf_inputs(docs: Path, names: list[str]) -> list[str]:
    """Files the PDF is compiled from, relative to ``docs`` (structured losses have no plot)."""
    structured = _structured_names()
    return (["catalog.tex"] + [f"catalog/{n}.tex" for n in names]
            + [f"catalog/plots/{n}.png" for n in names if n not in structured])


def inputs_sha256(docs: Path, names: list[str]) -> str:
    h = []
    for rel in pdf_inputs(docs, names):
        p = docs / rel
        h.append(f"{rel} {sha256(p.read_bytes()) if p.is_file() else 'missing'}")
    return sha256("\n".join(h).encode())


def pdf_status(docs: Path, names: list[str]) -> str | None:
    """Why ``docs/catalog.pdf`` is not current, or None."""
    pdf, meta = docs / "catalog.pdf", docs / "catalog" / "pdf.json"
    if not pdf.is_file():
        return "missing"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "has no record of what it was compiled from (docs/catalog/pdf.json)"
    if data.get("pdf_sha256") != sha256(pdf.read_bytes()):
        return "was replaced or edited (its hash does not match docs/catalog/pdf.json)"
    if data.get("inputs_sha256") != inputs_sha256(docs, names):
        return "stale: compiled from other versions of the LaTeX sources or plots"
    return None


def pdflatex() -> str | None:
    return shutil.which("pdflatex")


def compile_pdf(docs: Path, names: list[str]) -> bytes:
    """Compile ``docs/catalog.tex`` in a scratch copy; the PDF's bytes (raises DocsError)."""
    exe = pdflatex()
    if exe is None:
        raise DocsError("pdflatex is not on PATH")
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, FORCE_SOURCE_DATE="1", TZ="UTC")
    with tempfile.TemporaryDirectory(prefix="lossgen-docs-") as tmp:
        work = Path(tmp)
        for rel in pdf_inputs(docs, names):
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(docs / rel, work / rel)
        for _ in range(PDFLATEX_RUNS):
            r = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                                "catalog.tex"], cwd=work, env=env, capture_output=True, text=True,
                               errors="replace", timeout=600)
            if r.returncode != 0:
                log = (work / "catalog.log").read_text(errors="replace") if (work / "catalog.log").is_file() else r.stdout
                errors = [ln for ln in log.splitlines() if ln.startswith("!")]
                tail = "\n".join(log.splitlines()[-25:])
                raise DocsError(f"pdflatex failed on docs/catalog.tex: {'; '.join(errors[:3]) or 'see log'}\n{tail}")
        return (work / "catalog.pdf").read_bytes()
