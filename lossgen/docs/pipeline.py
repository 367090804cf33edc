"""``lossgen docs``: build the catalog's docs incrementally, and find stale ones.

1. For each catalog spec whose section is not current (:func:`.store.section_status`):
   gather its record (derive, lower, analyse, certify: seconds each), render the plot,
   the LaTeX and the Markdown section, write them atomically, then its record last.
   The structured catalog (``specs/structured/``) follows: its records come from
   :mod:`.structured` (the row program, the chain rule, the analysis; no plot).
   A loss that fails writes nothing; its previous files stay.
   (``lossgen build`` over the catalog does this step in its workers, each section
   right after its module: :func:`section_if_stale`.)
2. Assemble ``catalog.tex`` and ``catalog.md`` from all records (cheap, every time).
3. Compile ``catalog.pdf`` when its inputs changed and pdflatex is on PATH.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..build import catalog_spec_paths, structured_spec_paths, write_atomic
from ..errors import LossgenError
from ..spec import load_spec
from .catalog import DocsError, compile_pdf, inputs_sha256, pdf_status, pdflatex, render_catalog_md, render_catalog_tex
from .store import RECORD_KEY, docs_dir, dump_manifest, key_of, read_manifest, section_files, section_status, sha256


@dataclass
class DocsResult:
    sections: list[tuple[str, str, float]] = field(default_factory=list)   # (name, status, seconds)
    errors: list[str] = field(default_factory=list)
    pdf: str = "unchanged"      # "written", "unchanged", "skipped: ...", "failed: ..."
    seconds: float = 0.0


def build_section(spec_path: Path, folder: Path) -> None:
    """Gather, render and write one loss's section (raises on failure, writing nothing)."""
    spec = load_spec(spec_path)
    if not spec.is_elementwise:
        return build_structured_section(spec, folder)
    from ..analysis import analyze
    from ..catalog import get
    from .facts import ANALYSIS_DEADLINE, gather
    from .plots import plot_plan, render_png
    from .section import render_md, render_tex
    key = key_of(spec.source_sha256)
    old = read_manifest(folder, spec.name)
    if old is not None and all(old["key"].get(k) == key[k] for k in RECORD_KEY):
        record = old["record"]      # only the rendering changed
    else:
        loss = get(spec.name)   # refuses a missing or stale generated module
        # canonical form (what the record file holds), so that a fresh record and a stored
        # one render to the same bytes
        record = json.loads(json.dumps(gather(spec, loss, analyze(spec, deadline=ANALYSIS_DEADLINE)),
                                       sort_keys=True))
    png = render_png(spec, plot_plan(spec))
    tex = render_tex(record, sha256(png)).encode("utf-8")
    md = render_md(record).encode("utf-8")
    files = dict(zip(section_files(spec.name), (tex, md, png)))
    manifest = dump_manifest(key, files, record)
    for rel, data in files.items():
        write_atomic(folder / rel, data)
    write_atomic(folder / f"{spec.name}.json", manifest)


def build_structured_section(spec, folder: Path) -> None:
    """The section of a structured loss (:mod:`.structured`): its .tex, .md and record."""
    from ..analysis import analyze
    from .facts import ANALYSIS_DEADLINE
    from .structured import gather, render_md, render_tex
    key = key_of(spec.source_sha256, structured=True)
    old = read_manifest(folder, spec.name)
    if old is not None and all(old["key"].get(k) == key[k] for k in RECORD_KEY):
        record = old["record"]
    else:
        record = json.loads(json.dumps(gather(spec, analyze(spec, deadline=ANALYSIS_DEADLINE)), sort_keys=True))
    files = dict(zip(section_files(spec.name, structured=True),
                     (render_tex(record).encode("utf-8"), render_md(record).encode("utf-8"))))
    manifest = dump_manifest(key, files, record)
    for rel, data in files.items():
        write_atomic(folder / rel, data)
    write_atomic(folder / f"{spec.name}.json", manifest)


def section_if_stale(spec_path: Path, folder: Path) -> tuple | None:
    """Build the section of ``spec_path`` in ``folder`` if it is not current:
    (name, status, seconds, error) as :func:`_section_job`, or None (current, or the
    spec does not load: :func:`build_docs` reports that)."""
    try:
        spec = load_spec(spec_path)
    except LossgenError:
        return None
    if section_status(folder, spec.name, spec.source_sha256, not spec.is_elementwise) is None:
        return None
    return _section_job((Path(spec_path), folder))


def _section_job(args):
    spec_path, folder = args
    t0 = time.perf_counter()
    try:
        build_section(spec_path, folder)
        return spec_path.stem, "written", time.perf_counter() - t0, None
    except LossgenError as exc:
        return spec_path.stem, "failed", time.perf_counter() - t0, f"{spec_path.name}: {exc}"
    except Exception as exc:  # a bug or a library failure: name the loss, keep the others going
        return spec_path.stem, "failed", time.perf_counter() - t0, f"{spec_path.name}: {type(exc).__name__}: {exc}"


def build_docs(docs: Path | None = None, jobs: int = 1, pdf: bool = True, log=print,
               built: dict | None = None) -> DocsResult:
    """Bring the catalog's docs up to date (see the module docstring).  ``built`` maps
    the names of sections this run already built (:func:`section_if_stale`, in the
    workers of ``lossgen build``) to their outcome, reported as such."""
    t0 = time.perf_counter()
    docs = Path(docs) if docs is not None else docs_dir()
    folder = docs / "catalog"
    res = DocsResult()
    paths = catalog_spec_paths() + structured_spec_paths()
    _check_names(paths)
    todo = []
    for path in paths:
        if built and path.stem in built:
            _note(res, log, *built[path.stem])
            continue
        try:
            spec = load_spec(path)
        except LossgenError as exc:
            res.errors.append(str(exc))
            res.sections.append((path.stem, "failed", 0.0))
            continue
        if section_status(folder, spec.name, spec.source_sha256, not spec.is_elementwise) is None:
            res.sections.append((spec.name, "unchanged", 0.0))
        else:
            todo.append(path)
    if todo:
        log(f"docs: {len(todo)} section(s) to build ({len(paths) - len(todo)} current)")
        work = [(p, folder) for p in todo]
        if jobs > 1 and len(work) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                outcomes = pool.map(_section_job, work)
                for name, status, secs, err in outcomes:
                    _note(res, log, name, status, secs, err)
        else:
            for w in work:
                _note(res, log, *_section_job(w))
    if res.errors:
        res.pdf = "skipped: some sections failed"
        res.seconds = time.perf_counter() - t0
        return res
    _assemble(docs, [p.stem for p in paths], res, pdf, log)
    res.seconds = time.perf_counter() - t0
    return res


def _check_names(paths: list[Path]) -> None:
    """The elementwise and the structured catalog share ``docs/catalog/``: a name in both is refused."""
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen:
            raise DocsError(f"{p} and {seen[p.stem]} would write the same docs section: rename one")
        seen[p.stem] = p


def _note(res, log, name, status, secs, err):
    res.sections.append((name, status, secs))
    if err:
        res.errors.append(err)
    log(f"  {name:<30} {status:<9} {secs:6.1f} s")


def records(folder: Path, names: list[str]) -> list[dict]:
    out = []
    for n in names:
        data = read_manifest(folder, n)
        if data is None:
            raise DocsError(f"{folder / (n + '.json')} is missing or damaged: run `lossgen docs`")
        out.append(data["record"])
    return out


def catalog_texts(docs: Path, names: list[str]) -> dict[str, str]:
    """The assembled ``catalog.tex`` and ``catalog.md`` (from the section files on disk)."""
    recs = records(docs / "catalog", names)
    sections = {n: (docs / "catalog" / f"{n}.md").read_text(encoding="utf-8") for n in names}
    return {"catalog.tex": render_catalog_tex(recs), "catalog.md": render_catalog_md(recs, sections)}


def _assemble(docs: Path, names: list[str], res: DocsResult, pdf: bool, log) -> None:
    for rel, text in catalog_texts(docs, names).items():
        write_atomic(docs / rel, text)
    if not pdf:
        res.pdf = "skipped: not requested"
        return
    if pdf_status(docs, names) is None:
        res.pdf = "unchanged"
        return
    if pdflatex() is None:
        res.pdf = ("skipped: pdflatex is not on PATH, so docs/catalog.pdf was not rebuilt (install "
                   "texlive-latex-base and texlive-latex-recommended); `lossgen check` reports it stale")
        return
    t = time.perf_counter()
    data = compile_pdf(docs, names)
    write_atomic(docs / "catalog.pdf", data)
    meta = {"inputs_sha256": inputs_sha256(docs, names), "pdf_sha256": sha256(data)}
    write_atomic(docs / "catalog" / "pdf.json", json.dumps(meta, indent=1, sort_keys=True) + "\n")
    res.pdf = "written"
    log(f"docs: compiled docs/catalog.pdf ({len(data) // 1024} KiB) in {time.perf_counter() - t:.1f} s")


def docs_problems(docs: Path | None = None) -> list[tuple[str, str]]:
    """Stale, missing or hand-edited docs: [(file, reason)] (hashes only; nothing is built)."""
    docs = Path(docs) if docs is not None else docs_dir()
    folder = docs / "catalog"
    problems: list[tuple[str, str]] = []
    names = []
    for path in catalog_spec_paths() + structured_spec_paths():
        try:
            spec = load_spec(path)
        except LossgenError:
            continue   # stale_files() reports a spec that fails to load
        names.append(spec.name)
        why = section_status(folder, spec.name, spec.source_sha256, not spec.is_elementwise)
        if why is not None:
            problems.append((str(folder / f"{spec.name}.tex"), why))
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if f.stem not in names and f.name != "pdf.json":
            problems.append((str(f), "no spec documents this file"))
    if problems:
        return problems
    try:
        for rel, text in catalog_texts(docs, names).items():
            p = docs / rel
            if not p.is_file() or p.read_bytes() != text.encode("utf-8"):
                problems.append((str(p), "stale or edited: differs from the assembly of the current sections"))
    except DocsError as exc:
        problems.append((str(folder), str(exc)))
    why = pdf_status(docs, names)
    if why is not None:
        problems.append((str(docs / "catalog.pdf"), why))
    return problems
