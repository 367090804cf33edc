"""Rich output of the command line: ``lossgen show`` / ``new`` on a terminal and the
progress bar of ``lossgen build``.

Plain text stays the format of record (pipes, files, tests parse it); these renderings
are chosen by ``--format rich`` or, with ``--format auto`` (the default), when standard
output is a terminal.  Formulas are typeset by SymPy's 2-D pretty printer (fractions,
powers, the cases of a ``Piecewise``); properties are a two-column table.
"""
from __future__ import annotations

import contextlib
import sys

import sympy as sp
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .analysis.report import _num, _verdict

FORMULA_WIDTH = 90   # at most; less on a narrower console


def console(fmt: str = "auto", file=None) -> Console:
    """The console for ``--format fmt``: "rich" renders (colours, live progress) even into
    a pipe or file; "auto" only on a terminal."""
    return Console(file=file or sys.stdout, highlight=False, soft_wrap=False,
                   force_terminal=True if fmt == "rich" else None)


def use_rich(fmt: str, con: Console) -> bool:
    """``--format``: "rich", "plain", or "auto" (rich when the output is a terminal)."""
    return fmt == "rich" or (fmt == "auto" and con.is_terminal)


def pretty(expr, width: int = FORMULA_WIDTH) -> Text:
    """A formula typeset in 2-D (Unicode), wrapped at ``width`` columns."""
    return Text(sp.pretty(expr, use_unicode=True, num_columns=max(40, min(width, FORMULA_WIDTH))))


def derivative_rows(d) -> list[tuple[str, object]]:
    """(label, expression) for each gradient and Hessian entry of a derivation."""
    rows = [(f"∂L/∂{v}", g) for v, g in zip(d.wrt, d.grad)]
    for a, va in enumerate(d.wrt):
        for b in range(a, len(d.wrt)):
            vb = d.wrt[b]
            label = f"∂²L/∂{va}²" if a == b else f"∂²L/∂{va}∂{vb}"
            rows.append((label, d.hess[a][b]))
    return rows


def formulas_table(spec, d, width: int = FORMULA_WIDTH) -> Table:
    t = Table(show_header=False, box=None, padding=(0, 2, 1, 0))
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column()
    t.add_row("L", Text(spec.loss_text))
    if spec.loss_text.strip() != sp.sstr(spec.loss):
        t.add_row("", pretty(spec.loss, width))
    for label, expr in derivative_rows(d) if d is not None else []:
        t.add_row(label, pretty(expr, width))
    if d is None:
        t.add_row("", Text("not differentiable: values only", style="yellow"))
    return t


def params_table(spec) -> Table | None:
    if not spec.params:
        return None
    t = Table(title="parameters", title_justify="left", box=None, padding=(0, 2, 0, 0))
    for col in ("name", "default", "constraint", "meaning"):
        t.add_column(col, style="bold" if col == "name" else None)
    for p in spec.params:
        t.add_row(p.name, f"{p.default:g}", p.constraint_text or "-", p.description or "")
    return t


def stable_forms_table(rows) -> Table:
    """``rows``: (label, lowering candidate) as ``cmd_show`` collects them."""
    t = Table(title="stable forms the kernels compute (chosen by measured error)", title_justify="left",
              box=None, padding=(0, 2, 0, 0))
    for col in ("output", "form", "chosen", "typical ulp", "relative ulp"):
        t.add_column(col, overflow="fold")
    for label, c in rows:
        t.add_row(label, sp.sstr(c.expr), c.how, f"{c.max_ulp:.1f}", f"{c.max_rel_ulp:.3g}")
    return t


def properties_table(p: dict) -> Table:
    c = p.get("convexity") or {}
    t = Table(title=f"properties ({p.get('scope', '')})", title_justify="left", box=None,
              padding=(0, 2, 0, 0), show_header=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    verdict = _verdict(c.get("verdict"))
    colour = {"yes": "green", "no": "red"}.get(verdict, "yellow")
    t.add_row("convex", Text.assemble((verdict, colour), f" — {c.get('method') or '-'}"))
    w = c.get("witness")
    if w:
        t.add_row("", w["kind"] + " = " + str(w["value"]) + " at "
                  + ", ".join(f"{k}={_num(v, 6)}" for k, v in w["point"].items()))
    diff = p.get("differentiable")
    t.add_row("differentiable", f"{'-' if diff is None else ('yes' if diff else 'no')}; "
                                f"continuity {p.get('continuity') or '-'}")
    for k in p.get("kinks") or []:
        t.add_row("kink", f"at {k['at']}: jump {k['jump']}")
    if p.get("influence_method"):
        t.add_row("influence", f"sup|ψ| = {p.get('influence_bound') or '-'} "
                               f"(= {_num(p.get('influence_bound_value'), 6)}), {p.get('influence_kind') or '-'}")
        t.add_row("Lipschitz", str(p.get("lipschitz") or "-"))
        t.add_row("smoothness", f"sup|L''| = {p.get('smoothness') or '-'}")
    if p.get("efficiency") is not None:
        t.add_row("efficiency", f"{_num(p['efficiency'], 6)} at N(0,1); gross-error sensitivity "
                                f"{_num(p.get('gross_error_sensitivity'), 6)}")
    if p.get("timed_out"):
        t.add_row("timed out", ", ".join(p["timed_out"]) + " (answered unknown)")
    return t


def _sections(*parts) -> Group:
    """Parts one blank line apart (None parts left out)."""
    items = []
    for part in parts:
        if part is not None:
            items += [Text(""), part] if items else [part]
    return Group(*items)


def show(con: Console, spec, d, stable_rows, props: dict | None) -> None:
    """``lossgen show`` on a terminal."""
    width = con.width - 20
    title = f"[bold]{escape(spec.title)}[/bold] ({escape(spec.name)}) \\[{escape(spec.category)}]"
    summary = Text(spec.summary, style="italic") if spec.summary else None
    body = _sections(summary, formulas_table(spec, d, width), params_table(spec),
                     stable_forms_table(stable_rows) if stable_rows is not None else None,
                     properties_table(props) if props is not None else None)
    con.print(Panel(body, title=title, title_align="left"))


def new(con: Console, path, spec, d, props: dict | None) -> None:
    """``lossgen new`` on a terminal: the spec written, its derivatives, its properties."""
    body = _sections(formulas_table(spec, d, con.width - 20), params_table(spec),
                     properties_table(props) if props is not None else None)
    con.print(Panel(body, title=f"wrote [bold]{escape(str(path))}[/bold]", title_align="left"))


@contextlib.contextmanager
def build_progress(con: Console, total: int):
    """A progress bar over ``total`` specs; yields ``advance(name, status)``."""
    columns = (TextColumn("building"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=con, transient=True) as progress:
        task = progress.add_task("", total=total)

        def advance(name: str, status: str) -> None:
            progress.update(task, advance=1, description=f"{name}: {status}")

        yield advance
