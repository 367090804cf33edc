"""The docs stage: incremental and atomic builds, `lossgen check` over docs/, the PDF
(builds without errors, byte for byte the committed one, every loss with every part),
and reproducible plots.

The expensive part of a section (analysis, certificate) is never recomputed here: the
tests work on copies of the committed docs, whose records are current.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lossgen.catalog import catalog, spec_for, structured_catalog
from lossgen.docs import build_docs, docs_problems
from lossgen.docs.catalog import compile_pdf, pdflatex
from lossgen.docs.store import section_files

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PARTS = ("Inputs and parameters", "Definition", "Stable numeric form", "Properties", "Convex:", "Influence",
         "Efficiency", "Accuracy certificate", "Plot")
#: the parts of a structured loss's section (no kernel forms, certificate or plot: lossgen/docs/structured.py)
STRUCTURED_PARTS = ("Inputs and parameters", "Definition", "Reductions and the row loss", "Properties", "Convex:")
#: every documented loss, in the order of the catalog (elementwise, then structured)
ALL = catalog() + structured_catalog()
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None,
                                    reason="pdflatex is not on PATH (CI installs texlive-latex-base/-recommended)")
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                     reason="pdftotext is not on PATH (poppler-utils)")


def docs_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "docs"
    shutil.copytree(DOCS, dst)
    return dst


def test_committed_docs_are_current():
    assert docs_problems(DOCS) == []


@pytest.mark.parametrize("name", ALL)
def test_each_section_is_its_stored_record_rendered(name):
    """The committed .tex/.md are exactly what the stored record renders to (so a
    section re-rendered from its record, or gathered afresh, gives the same bytes)."""
    import hashlib

    from lossgen.docs.section import render_md, render_tex
    folder = DOCS / "catalog"
    record = json.loads((folder / f"{name}.json").read_text())["record"]
    if name in structured_catalog():
        from lossgen.docs import structured
        assert structured.render_tex(record) == (folder / f"{name}.tex").read_text(encoding="utf-8")
        assert structured.render_md(record) == (folder / f"{name}.md").read_text(encoding="utf-8")
        return
    png = hashlib.sha256((folder / "plots" / f"{name}.png").read_bytes()).hexdigest()
    assert render_tex(record, png) == (folder / f"{name}.tex").read_text(encoding="utf-8")
    assert render_md(record) == (folder / f"{name}.md").read_text(encoding="utf-8")


def test_a_rebuild_with_nothing_changed_writes_nothing_and_is_fast(tmp_path):
    docs = docs_copy(tmp_path)
    before = {p: p.read_bytes() for p in docs.rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    t0 = time.perf_counter()
    res = build_docs(docs, log=lambda *a: None)
    seconds = time.perf_counter() - t0
    assert res.errors == [] and res.pdf == "unchanged"
    assert {s for _, s, _ in res.sections} == {"unchanged"} and len(res.sections) == len(ALL)
    assert seconds < 5, f"an up-to-date docs build took {seconds:.1f} s"
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes


def test_check_names_a_hand_edited_section_and_a_rebuild_restores_it(tmp_path):
    docs = docs_copy(tmp_path)
    target = docs / "catalog" / "huber.tex"
    original = target.read_bytes()
    target.write_text(target.read_text().replace("Huber loss", "Hubert loss"))
    problems = docs_problems(docs)
    assert len(problems) == 1 and problems[0][0].endswith("huber.tex") and "by hand" in problems[0][1]
    res = build_docs(docs, pdf=False, log=lambda *a: None)
    assert res.errors == [] and ("huber", "written") in [(n, s) for n, s, _ in res.sections]
    assert target.read_bytes() == original            # re-rendered from the stored record, byte for byte
    assert docs_problems(docs) == []


@pytest.mark.parametrize("damage, culprit", [
    (lambda d: (d / "catalog" / "plots" / "mse.png").write_bytes(b"not a png"), "mse.tex"),
    (lambda d: (d / "catalog" / "cauchy.json").unlink(), "cauchy.tex"),
    (lambda d: (d / "catalog.md").write_text("# edited\n"), "catalog.md"),
    (lambda d: (d / "catalog.pdf").write_bytes(b"%PDF-1.5 edited"), "catalog.pdf"),
    (lambda d: shutil.copy(d / "catalog" / "mse.json", d / "catalog" / "orphan.json"), "orphan.json"),
], ids=["plot_replaced", "record_missing", "catalog_md_edited", "pdf_edited", "orphan"])
def test_check_reports_damaged_docs(tmp_path, damage, culprit):
    docs = docs_copy(tmp_path)
    damage(docs)
    problems = docs_problems(docs)
    assert problems and any(f.endswith(culprit) for f, _ in problems), problems


def test_a_spec_change_makes_its_section_stale(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(REPO / "specs", specs)
    docs = docs_copy(tmp_path)
    (specs / "welsch.toml").write_text((specs / "welsch.toml").read_text() + "\n# edited\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSGEN_")}
    env.update(LOSSGEN_SPECS_DIR=str(specs), LOSSGEN_DOCS_DIR=str(docs), LOSSGEN_GENERATED_DIR=str(REPO / "generated"))
    r = subprocess.run([sys.executable, "-m", "lossgen.cli", "check"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    # (lines naming the docs copy: the checkout's own path may contain "docs" too)
    flagged = [ln for ln in r.stderr.splitlines() if ln.startswith("stale:") and str(docs) in ln]
    assert len(flagged) == 1 and "welsch.tex" in flagged[0] and "spec changed" in flagged[0], r.stderr


def test_a_failing_section_leaves_the_previous_files_intact(tmp_path, monkeypatch):
    docs = docs_copy(tmp_path)
    folder = docs / "catalog"
    (folder / "huber.md").write_text("stale\n")      # forces huber to be rebuilt
    keep = {rel: (folder / rel).read_bytes() for rel in section_files("huber") + ("huber.json",)}
    import lossgen.docs.section as section

    def broken(*a, **k):
        raise RuntimeError("template exploded")
    monkeypatch.setattr(section, "render_tex", broken)
    res = build_docs(docs, log=lambda *a: None)
    assert res.errors and "huber" in res.errors[0] and "template exploded" in res.errors[0]
    assert res.pdf.startswith("skipped")
    assert {rel: (folder / rel).read_bytes() for rel in keep} == keep
    assert not list(folder.rglob("*.tmp"))


def test_lossgen_docs_says_clearly_when_pdflatex_is_missing(tmp_path):
    docs = docs_copy(tmp_path)
    (docs / "catalog.pdf").unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSGEN_")}
    env.update(LOSSGEN_DOCS_DIR=str(docs), PATH=str(Path(sys.executable).parent))
    if shutil.which("pdflatex", path=env["PATH"]):
        pytest.skip("pdflatex lives beside python here")
    r = subprocess.run([sys.executable, "-m", "lossgen.cli", "docs"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "pdflatex is not on PATH" in r.stderr and "texlive" in r.stderr
    assert not (docs / "catalog.pdf").exists()


@needs_pdflatex
def test_the_pdf_builds_without_errors_and_is_the_committed_one_byte_for_byte():
    names = ALL
    data = compile_pdf(DOCS, names)
    assert data.startswith(b"%PDF")
    assert data == (DOCS / "catalog.pdf").read_bytes()
    assert json.loads((DOCS / "catalog" / "pdf.json").read_text())["pdf_sha256"] == \
        __import__("hashlib").sha256(data).hexdigest()


@needs_pdftotext
def test_every_loss_appears_in_the_pdf_with_every_part():
    text = subprocess.run(["pdftotext", "-layout", str(DOCS / "catalog.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    text = re.sub(r"[ \t]+", " ", text)
    starts = []
    for name in ALL:
        # a long heading wraps: any whitespace, newlines included, between its words
        title = r"\s+".join(re.escape(w) for w in spec_for(name).title.split())
        m = re.search(rf"^\s*\d+\s+{title}\s+\({loose(name)}\)\s*$", text, re.M)
        assert m, f"no section heading for {name} in the PDF"
        starts.append((m.start(), name))
    assert "Summary" in text and "Index" in text
    starts.sort()
    index = re.compile(r"^\f?Index$", re.M).search(text, starts[-1][0])
    assert index, "no Index after the last section"
    ends = [s for s, _ in starts[1:]] + [index.start()]
    for (start, name), end in zip(starts, ends):
        body = text[start:end]
        spec = spec_for(name)
        if name in structured_catalog():
            missing = [p for p in STRUCTURED_PARTS if p not in body]
            missing += [] if not spec.differentiable or "Gradient" in body else ["Gradient"]
            missing += [] if not spec.references or "References" in body else ["References"]
            assert not missing, f"{name}: the PDF section lacks {missing}"
            continue
        missing = [p for p in PARTS if p not in body]
        if spec.differentiable:
            missing += [p for p in ("Gradient", "Hessian", "Lipschitz constant", "Smoothness constant")
                        if p not in body]
        if spec.references:
            missing += [] if "References" in body else ["References"]
        if spec.params:
            missing += [p.name for p in spec.params if p.description and p.description[:20] not in body]
        assert not missing, f"{name}: the PDF section lacks {missing}"
    summary = text[text.index("Summary"):starts[0][0]]
    missing = [n for n in ALL if not re.search(loose(n).replace("[_ ]", r"[_ ]\s*"), summary)]
    assert not missing, f"not in the summary table: {missing}"


def loose(name: str) -> str:
    """``name`` as pdftotext may render it (an OT1 typewriter underscore reads as a space)."""
    return re.escape(name).replace("_", "[_ ]")


def test_plots_are_reproducible_and_small():
    from lossgen.docs.plots import plot_plan, render_png
    for name in ("huber", "focal"):
        spec = spec_for(name)
        png = render_png(spec, plot_plan(spec))
        assert png == (DOCS / "catalog" / "plots" / f"{name}.png").read_bytes()
    sizes = [p.stat().st_size for p in (DOCS / "catalog" / "plots").glob("*.png")]
    assert len(sizes) == len(catalog()) and max(sizes) < 80_000


def test_plot_plans_vary_the_parameters_the_issue_names():
    from lossgen.docs.plots import plot_plan
    assert plot_plan(spec_for("huber"))["param"] == "delta" and len(plot_plan(spec_for("huber"))["values"]) >= 3
    assert plot_plan(spec_for("focal"))["param"] == "gamma" and len(plot_plan(spec_for("focal"))["values"]) >= 3


def test_text_escaping_refuses_characters_it_cannot_typeset():
    from lossgen.docs.section import tex_escape
    assert tex_escape("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"
    with pytest.raises(ValueError, match="U\\+2603"):
        tex_escape("snow \u2603")


def test_property_strings_are_read_only_over_parameter_names():
    from lossgen.docs.facts import property_latex
    spec = spec_for("cauchy")
    assert property_latex("c/2", spec) == r"\frac{c}{2}"
    assert property_latex("oo", spec) == r"\infty"
    assert property_latex("__import__('os')", spec) is None
    assert property_latex("c + unknown_name", spec) is None
