"""The ``lossgen`` command line.

    lossgen build [SPEC ...] [--out DIR]   specs -> generated modules (default: the catalog, then its docs)
    lossgen check                          exit 1 if generated/ or docs/ is stale or hand-edited
    lossgen docs [--jobs N] [--no-pdf]     the catalog's LaTeX/Markdown sections, plots and PDF (incremental)
    lossgen list                           the catalog as a table
    lossgen show NAME|PATH                 the formulas of one loss, and the stable forms used
    lossgen accuracy NAME|PATH [--json]    accuracy certificate of every kernel
    lossgen analyze NAME|PATH [--param NAME=VALUE ...] [--json] [--efficiency E]
                                           properties: convexity, smoothness, influence, efficiency
    lossgen list --properties              the catalog's properties as one comparison table
    lossgen new NAME --expr EXPR [--param NAME=VALUE ...] [-o FILE]
                                           the spec, its derivatives and properties at once
    lossgen bench [NAME ...] [--n N] [--dtype D] [--write RESULTS.md]
                                           CPU benchmark against NumPy, torch, scikit-learn

`show`, `new` and `build` take --format rich|plain|auto: auto (the default) renders with
rich (typeset formulas, tables, a progress bar) when standard output is a terminal, and
keeps the stable plain text otherwise.

Errors a user can fix are printed as one message naming the file, key and column,
without a traceback, and the exit status is 1 (2 for bad command-line usage).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import time
from pathlib import Path

from .errors import LossgenError


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[c])) for r in rows + [header]) for c in range(len(header))]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in out)


def _resolve_spec(arg: str) -> Path:
    from .paths import specs_dir
    p = Path(arg)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise LossgenError(f"{arg}: no such spec file")
        return p
    cat = specs_dir() / f"{arg}.toml"
    if not cat.is_file() and (specs_dir() / "structured" / f"{arg}.toml").is_file():
        cat = specs_dir() / "structured" / f"{arg}.toml"
    if not cat.is_file():
        raise LossgenError(f"'{arg}' is neither a spec file nor a catalog loss (see `lossgen list`)")
    return cat


def cmd_build(args) -> int:
    from .build import build_many, catalog_spec_paths, structured_spec_paths
    paths = [_resolve_spec(s) for s in args.specs] if args.specs else catalog_spec_paths() + structured_spec_paths()
    out = Path(args.out) if args.out else None
    t0 = time.perf_counter()
    results = []
    width = len(str(len(paths)))
    # the catalog's modules carry their accuracy certificate; a build into another
    # directory does not measure (lossgen accuracy PATH does, on demand)
    certify = out is None and not args.no_certify
    from .docs.store import docs_dir
    with_docs = not (args.specs or out is not None or args.no_docs or not docs_dir().is_dir())
    # the catalog's docs sections are built by the same workers, each right after its module
    then = None
    if with_docs:
        from .docs.pipeline import section_if_stale
        then = functools.partial(section_if_stale, folder=docs_dir() / "catalog")
    with _build_reporter(args, len(paths)) as advance:
        def arrived(k, res):
            results.append(res)
            advance(k + 1, len(paths), width, res, paths[k])
        build_many(paths, out, force=args.force, certify=certify, jobs=args.jobs or None, on_result=arrived,
                   then=then)
    failed = [r for r in results if r.status == "failed"]
    counts = {s: sum(r.status == s for r in results) for s in ("written", "unchanged", "certified", "failed")}
    if not args.quiet:
        print()
        rows = [[r.name or r.path.stem, r.status, f"{r.seconds:.2f}", ", ".join(r.files) or "-"] for r in results]
        print(_table(rows, ["loss", "status", "seconds", "files"]))
        print()
    certified = f"{counts['certified']} certified, " if counts["certified"] else ""
    print(f"{len(results)} specs: {counts['written']} written, {certified}{counts['unchanged']} unchanged, "
          f"{counts['failed']} failed in {time.perf_counter() - t0:.1f} s"
          f" -> {out or 'generated/'}")
    for r in failed:
        print(f"\nerror: {r.error}", file=sys.stderr)
    if failed:
        return 1
    if not with_docs:
        return 0
    print()
    return cmd_docs(args, built={r.then[0]: r.then for r in results if r.then is not None})


def cmd_docs(args, built: dict | None = None) -> int:
    from .docs import build_docs
    from .docs.store import docs_dir
    res = build_docs(jobs=max(1, getattr(args, "jobs", 1) or os.cpu_count() or 1),
                     pdf=not getattr(args, "no_pdf", False), built=built)
    counts = {s: sum(st == s for _, st, _ in res.sections) for s in ("written", "unchanged", "failed")}
    print(f"docs: {counts['written']} section(s) written, {counts['unchanged']} unchanged, {counts['failed']} failed; "
          f"pdf {res.pdf}; {res.seconds:.1f} s -> {docs_dir()}")
    for err in res.errors:
        print(f"error: {err}", file=sys.stderr)
    if res.errors:
        return 1
    if res.pdf.startswith("skipped: pdflatex"):
        print(f"warning: {res.pdf}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _build_reporter(args, total: int):
    """How a build reports each spec: a rich progress bar on a terminal, one stable line per
    spec otherwise (what scripts and tests read), nothing with --quiet."""
    if args.quiet:
        yield lambda *a: None
        return
    from . import cli_rich
    con = cli_rich.console(args.format)
    if cli_rich.use_rich(args.format, con) and total > 1:
        with cli_rich.build_progress(con, total) as bar:
            yield lambda k, n, width, res, path: bar(res.name or path.stem, res.status)
        return

    def line(k, n, width, res, path):
        print(f"[{k:>{width}}/{n}] {res.name or path.stem:<30} {res.status:<9} {res.seconds:6.2f} s", flush=True)

    yield line


def cmd_check(args) -> int:
    from .build import stale_files
    from .docs import docs_problems
    from .docs.store import docs_dir
    problems = stale_files(full=args.full)
    checked = "generated/"
    if docs_dir().is_dir():
        problems += docs_problems()
        checked += " and docs/"
    if not problems:
        print(f"{checked} up to date with specs/")
        return 0
    for f, why in problems:
        print(f"stale: {f}: {why}", file=sys.stderr)
    print(f"{len(problems)} problem(s); run `lossgen build` (it also runs `lossgen docs`)", file=sys.stderr)
    return 1


def cmd_list(args) -> int:
    from .build import catalog_spec_paths
    from .spec import load_spec
    if getattr(args, "properties", False):
        return _list_properties(args)
    rows = []
    for path in catalog_spec_paths():
        s = load_spec(path)
        inputs = ", ".join(i.name + ("*" if i.differentiable and s.differentiable else "") for i in s.inputs)
        params = ", ".join(f"{p.name}={p.default:g}" for p in s.params) or "-"
        rows.append([s.name, s.category, inputs, params, s.title])
    print(_table(rows, ["name", "category", "inputs (* differentiable)", "params", "title"]))
    print(f"\n{len(rows)} losses")
    return 0


def cmd_show(args) -> int:
    import sympy as sp

    from .derive import derive
    from .rewrite import lower
    from .spec import load_spec
    spec = load_spec(_resolve_spec(args.target))
    if not spec.is_elementwise:
        from .derive.reductions import describe
        print(describe(spec))
        if not getattr(args, "no_properties", False):
            from .analysis import analyze
            conv = analyze(spec, deadline=args.deadline)["convexity"]
            print(f"convexity: {conv['verdict']} ({conv['method']}): {conv['evidence']}")
        return 0
    d = derive(spec) if spec.differentiable else None
    low = lower(spec, d)
    rows = [("loss", low.loss)] + [(f"d/d{v}", c) for v, c in zip(d.wrt if d else (), low.grad)]
    if d is not None:
        rows += [(f"d2/d{d.wrt[a]}2", low.hess[a][a]) for a in range(len(d.wrt))]
    props = None
    if not getattr(args, "no_properties", False):
        from .analysis import analyze
        props = analyze(spec, deadline=args.deadline)
    from . import cli_rich
    con = cli_rich.console(args.format)
    if cli_rich.use_rich(args.format, con):
        cli_rich.show(con, spec, d, rows, props)
        return 0
    print(f"{spec.title} ({spec.name}) [{spec.category}]")
    if spec.summary:
        print(spec.summary)
    print(f"\n  loss = {spec.loss_text}")
    if spec.loss_text.strip() != sp.sstr(spec.loss):
        print(f"       = {sp.sstr(spec.loss)}")
    for p in spec.params:
        print(f"  param {p.name} = {p.default:g}" + (f"  ({p.constraint_text})" if p.constraint_text else ""))
    _print_derivatives(d, "\n  ")
    print("\n  stable forms the kernels compute (chosen by measured error, in ulps):")
    for label, c in rows:
        print(f"    {label:<12} = {sp.sstr(c.expr)}")
        print(f"    {'':<12}   [{c.how}; typical {c.max_ulp:.1f}, relative {c.max_rel_ulp:.3g} ulp]")
    if props is not None:
        from .analysis.report import text
        print("\n" + text(props))
    return 0


def _print_derivatives(d, first_prefix: str = "  ") -> None:
    """Plain lines ``d loss / d v = ...`` and ``d2 loss / d a d b = ...`` (tests parse them)."""
    import sympy as sp
    if d is None:
        print(f"{first_prefix}not differentiable: values only")
        return
    for k, (v, g) in enumerate(zip(d.wrt, d.grad)):
        print(f"{first_prefix if k == 0 else '  '}d loss / d {v} = {sp.sstr(g)}")
    for a, va in enumerate(d.wrt):
        for b in range(a, len(d.wrt)):
            print(f"  d2 loss / d {va} d {d.wrt[b]} = {sp.sstr(d.hess[a][b])}")


def cmd_accuracy(args) -> int:
    import json

    from .catalog import compile as compile_spec
    from .catalog import get
    from .verify.accuracy import certify
    path = _resolve_spec(args.target)
    from .paths import specs_dir
    loss = get(path.stem) if path.parent.resolve() == specs_dir().resolve() else compile_spec(path)
    reports = certify(loss)
    if args.json:
        print(json.dumps({"name": loss.name, "outputs": [r.as_dict() for r in reports]}, indent=2))
        return 0
    rows = [[r.output, r.dtype, f"{r.max_ulp:.2f}", str(r.nonfinite), str(r.points),
             _point(r.worst_point)] for r in reports]
    print(f"accuracy certificate: {loss.name} (ulps of max(|truth|, smallest normal), mpmath at 50 digits)")
    print(_table(rows, ["output", "dtype", "max ulp", "non-finite", "points", "worst at (inputs+params -> got, truth)"]))
    return 0


def cmd_analyze(args) -> int:
    import json

    from .analysis import analyze
    from .analysis.report import text
    from .spec import load_spec
    if args.efficiency is not None and not 0 < args.efficiency < 1:
        raise LossgenError(f"--efficiency {args.efficiency}: expected a number in (0, 1)")
    spec = load_spec(_resolve_spec(args.target))
    props = analyze(spec, _parse_params(args.param), deadline=args.deadline, efficiency=args.efficiency)
    print(json.dumps(props, indent=2) if args.json else f"{spec.title} ({spec.name})\n" + text(props))
    return 0


def _analyze_one(path_and_deadline):
    from .analysis import analyze
    path, deadline = path_and_deadline
    try:
        return analyze(str(path), deadline=deadline)
    except LossgenError as exc:
        return {"name": path.stem, "convex": None, "convexity": {"method": f"error: {exc}"}, "seconds": 0.0}


def _list_properties(args) -> int:
    import json
    import os

    from .analysis.report import TABLE_HEADER, table_row
    from .build import catalog_spec_paths
    paths = catalog_spec_paths()
    jobs = max(1, args.jobs or 1)
    t0 = time.perf_counter()
    work = [(p, args.deadline) for p in paths]
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        ctx = multiprocessing.get_context("fork") if hasattr(os, "fork") else None
        with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
            results = list(pool.map(_analyze_one, work))
    else:
        results = [_analyze_one(w) for w in work]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(_table([table_row(r) for r in results], TABLE_HEADER))
    convex = sum(r["convex"] is True for r in results)
    nonconvex = sum(r["convex"] is False for r in results)
    print(f"\n{len(results)} losses: {convex} proved convex, {nonconvex} disproved (with a witness), "
          f"{len(results) - convex - nonconvex} unknown; {time.perf_counter() - t0:.1f} s with {jobs} job(s)")
    return 0


def _point(worst) -> str:
    if not worst:
        return "-"
    args, got, truth = worst
    return "(" + ", ".join(f"{a:.6g}" for a in args) + f") -> {got:.6g}, {truth:.6g}"


def _parse_params(items: list[str]) -> dict[str, float]:
    params = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise LossgenError(f"--param {item!r}: expected NAME=VALUE")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise LossgenError(f"--param {item!r}: {value!r} is not a number") from None
    return params


def cmd_new(args) -> int:
    """Scaffold a spec, then show at once what lossgen derives from it: the gradient, the
    Hessian and the properties (convexity, influence, efficiency)."""
    import sympy as sp

    from .derive import derive
    from .scaffold import scaffold
    from .spec import load_spec
    text = scaffold(args.name, args.expr, _parse_params(args.param), args.category)
    target = Path(args.output) if args.output else Path(f"{args.name}.toml")
    if target.exists() and not args.force:
        raise LossgenError(f"{target} exists; pass --force to overwrite")
    target.write_text(text, encoding="utf-8")
    spec = load_spec(target)
    d = derive(spec)
    props = None
    if not args.no_properties:
        from .analysis import analyze
        props = analyze(spec, deadline=args.deadline)
    from . import cli_rich
    con = cli_rich.console(args.format)
    if cli_rich.use_rich(args.format, con):
        cli_rich.new(con, target, spec, d, props)
    else:
        print(f"wrote {target}")
        print(f"  loss = {sp.sstr(spec.loss)}")
        _print_derivatives(d)
        if props is not None:
            from .analysis.report import text as properties_text
            print("\n" + properties_text(props))
    print(f"\nnext: lossgen show {target}   |   lossgen build {target} --out DIR   |   "
          f"lossgen.compile({str(target)!r}) in Python")
    return 0


def _format_option(parser) -> None:
    parser.add_argument("--format", choices=("auto", "rich", "plain"), default="auto",
                        help="output style: rich (tables, typeset formulas, progress bar), plain (stable "
                             "text for scripts) or auto (rich on a terminal; the default)")


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `lossgen bench` and benchmarks/cpu_bench.py (here, not in
    lossgen.bench, so that building the parser does not import Numba)."""
    p.add_argument("names", nargs="*", metavar="NAME", help="catalog losses (default: all elementwise ones)")
    p.add_argument("--n", type=lambda s: int(float(s)), default=10**7, help="elements per array (default 1e7)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per median (default 5)")
    p.add_argument("--dtype", choices=("float64", "float32"), action="append", help="default: both")
    p.add_argument("--no-numpy", action="store_true", help="skip the NumPy expression")
    p.add_argument("--no-torch", action="store_true", help="skip torch")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn")
    p.add_argument("--write", metavar="FILE", help="update the CPU section of this RESULTS.md")


def cmd_bench(args) -> int:
    from .bench import run_from_args
    return run_from_args(args, "lossgen bench")


def make_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lossgen", description="Losses written once as mathematics.")
    from ._version import __version__
    ap.add_argument("--version", action="version", version=f"lossgen {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate kernels from specs (default: the whole catalog)")
    b.add_argument("specs", nargs="*", help="spec files or catalog names")
    b.add_argument("--out", help="output directory (default: generated/)")
    b.add_argument("--force", action="store_true", help="regenerate even files that are current")
    b.add_argument("--no-certify", action="store_true",
                   help="skip measuring the accuracy certificate of new catalog modules (lossgen check then "
                        "reports them); builds with --out never measure")
    b.add_argument("-q", "--quiet", action="store_true", help="print only the summary line (and errors)")
    _format_option(b)
    b.add_argument("--no-docs", action="store_true", help="do not bring docs/ up to date after a catalog build")
    b.add_argument("--jobs", type=int, default=0,
                   help="worker processes for the specs and the docs sections (default: one per CPU)")
    b.add_argument("--no-pdf", action="store_true", help="do not compile docs/catalog.pdf")
    b.set_defaults(func=cmd_build)
    dc = sub.add_parser("docs", help="catalog docs: LaTeX/Markdown per loss, plots, catalog.pdf (incremental)")
    dc.add_argument("--jobs", type=int, default=1, help="sections built in parallel worker processes (default 1)")
    dc.add_argument("--no-pdf", action="store_true", help="do not compile docs/catalog.pdf")
    dc.set_defaults(func=cmd_docs)
    c = sub.add_parser("check", help="exit 1 if generated/ is stale")
    c.add_argument("--full", action="store_true", help="also regenerate every spec and compare bytes")
    c.set_defaults(func=cmd_check)
    lst = sub.add_parser("list", help="the catalog as a table")
    lst.add_argument("--properties", action="store_true",
                     help="analyse every loss: convexity, differentiability, influence bound, efficiency")
    lst.add_argument("--jobs", type=int, default=1,
                     help="parallel analyses in worker processes (default 1: one process shares SymPy's caches)")
    lst.add_argument("--deadline", type=float, default=20.0, help="seconds per loss (default 20)")
    lst.add_argument("--json", action="store_true", help="with --properties: every property as JSON")
    lst.set_defaults(func=cmd_list)
    an = sub.add_parser("analyze", help="properties of one loss: convexity, smoothness, influence, efficiency")
    an.add_argument("target", help="catalog name or spec path")
    an.add_argument("--param", action="append", metavar="NAME=VALUE", help="fix a parameter (repeatable)")
    an.add_argument("--json", action="store_true", help="machine-readable output")
    an.add_argument("--efficiency", type=float, default=None, metavar="E",
                    help="also find the parameter value giving asymptotic efficiency E at N(0,1)")
    an.add_argument("--deadline", type=float, default=30.0, help="seconds for the analysis (default 30)")
    an.set_defaults(func=cmd_analyze)
    s = sub.add_parser("show", help="formulas of one loss")
    s.add_argument("target", help="catalog name or spec path")
    s.add_argument("--no-properties", action="store_true", help="skip the properties (analysis) section")
    s.add_argument("--deadline", type=float, default=30.0, help="seconds for the properties (default 30)")
    _format_option(s)
    s.set_defaults(func=cmd_show)
    acc = sub.add_parser("accuracy", help="accuracy certificate: every kernel against mpmath")
    acc.add_argument("target", help="catalog name or spec path")
    acc.add_argument("--json", action="store_true", help="machine-readable output")
    acc.set_defaults(func=cmd_accuracy)
    n = sub.add_parser("new", help="scaffold a spec from an expression")
    n.add_argument("name")
    n.add_argument("--expr", required=True, help="the loss in SymPy syntax, in terms of pred and target")
    n.add_argument("--param", action="append", metavar="NAME=VALUE", help="a parameter's default")
    n.add_argument("--category", default="regression")
    n.add_argument("-o", "--output", help="spec file to write (default: NAME.toml)")
    n.add_argument("--force", action="store_true", help="overwrite an existing file")
    n.add_argument("--no-properties", action="store_true", help="skip the properties (analysis)")
    n.add_argument("--deadline", type=float, default=30.0, help="seconds for the properties (default 30)")
    _format_option(n)
    n.set_defaults(func=cmd_new)
    bn = sub.add_parser("bench", help="CPU benchmark against NumPy, torch, scikit-learn and memory bandwidth")
    add_bench_arguments(bn)
    bn.set_defaults(func=cmd_bench)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except LossgenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`lossgen list | head`): stop quietly, as Unix tools do
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
