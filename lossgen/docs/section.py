r"""One loss's section, as LaTeX and as GitHub Markdown, from its record (:mod:`.facts`).

Templates (``templates/section.tex.j2``, ``section.md.j2``) own the layout; this module
only supplies the helpers they call.  Jinja's delimiters are changed to ``((( )))`` and
``((* *))`` so that LaTeX braces need no escaping.

Every formula of a section is one display, preceded by a comment naming it, so the
tests find each published formula in the text itself:

    % formula gradient/pred: lossgen.derive: sympy.diff of the loss
    \begin{equation*}\fitformula{\frac{\partial L}{\partial \mathit{pred}} = ...}\end{equation*}

(or ``\begin{dmath*} ... \end{dmath*}`` for a long one, which breqn breaks across lines).
"""
from __future__ import annotations

import re
from pathlib import Path

import jinja2

from .latex import symbol_latex

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                             block_start_string="((*", block_end_string="*))",
                             variable_start_string="(((", variable_end_string=")))",
                             comment_start_string="((=", comment_end_string="=))", autoescape=False)
    env.filters["tex"] = tex_escape
    env.filters["ttbreak"] = lambda s: tex_escape(s).replace(r"\_", r"\_\allowbreak{}")
    env.filters["cell"] = lambda s: str(s or "").replace("|", "\\|")
    return env


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}
_NON_ASCII = {"\u221e": r"$\infty$", "\u2014": "---", "\u2013": "--", "\u00e9": r"\'e", "\u00e8": r"\`e",
              "\u00f6": r"\"o", "\u00fc": r"\"u", "\u00e4": r"\"a", "\u03c8": r"$\psi$", "\u2264": r"$\le$",
              "\u2265": r"$\ge$", "\u00b1": r"$\pm$", "\u2248": r"$\approx$", "\u00e1": r"\'a", "\u00ed": r"\'i",
              "\u00f3": r"\'o", "\u0107": r"\'c", "\u0161": r"\v{s}", "\u2019": "'", "\u201c": "``", "\u201d": "''",
              "\u00f8": r"{\o}", "\u00d8": r"{\O}", "\u00e5": r"{\aa}", "\u00df": r"{\ss}", "\u0142": r"{\l}",
              "\u00f1": r"\~n", "\u00e7": r"\c{c}", "\u00e0": r"\`a", "\u00ea": r"\^e", "\u00ef": r"\"i",
              "\u00c9": r"\'E", "\u00d6": r"\"O", "\u00dc": r"\"U", "\u00c4": r"\"A"}


def tex_escape(text) -> str:
    """Plain text (spec prose, analysis messages) as LaTeX text."""
    out = []
    for ch in str(text if text is not None else "-"):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ord(ch) < 128:
            out.append(ch)
        elif ch in _NON_ASCII:
            out.append(_NON_ASCII[ch])
        else:
            raise ValueError(f"no LaTeX for the character {ch!r} (U+{ord(ch):04X}) in {text!r}")
    return "".join(out)


def num(v) -> str:
    if v is None:
        return "-"
    if v == "oo":
        return "\\ensuremath{\\infty}"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    v = float(v)
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.2e}"


def yesno(v) -> str:
    return {True: "yes", False: "no"}.get(v, "unknown")


def verdict(v) -> str:
    return {"proved": "yes (proved)", "disproved": "no (disproved)"}.get(v, "unknown")


#: formulas with more LaTeX than this are set with breqn's ``dmath*`` (broken across
#: lines); shorter ones on one line, shrunk to the line width if they are wider
LONG_FORMULA = 240
#: formulas with more LaTeX than this are not typeset (a display wider than TeX's largest
#: dimension, 16384pt, stops pdflatex): the section says where the code is instead
MAX_TYPESET = 8000


def display(body: str) -> str:
    """A display formula: one line (``\\fitformula``) or, when long, broken by breqn."""
    if len(body) > LONG_FORMULA:
        return f"\\begin{{dmath*}}{body}\\end{{dmath*}}"
    return f"\\begin{{equation*}}\\fitformula{{{body}}}\\end{{equation*}}"


def _helpers(record: dict, markdown: bool) -> dict:
    def group(*prefixes):
        return [f for f in record["formulas"]
                if any(f["id"] == p or (p.endswith("/") and f["id"].startswith(p)) for p in prefixes)]

    def formula(f):
        if len(f["tex"]) > MAX_TYPESET:
            where = f"generated/{record['name']}.py"
            what = (f"a form of {len(f['tex'])} characters of LaTeX, too long to typeset (TeX's "
                    f"largest dimension); its code is in {where}, and its accuracy is certified below")
            if markdown:
                return f"\n*{f['source']}:* ${f['lhs']}$: {what}.\n"
            return (f"\\noindent\\emph{{{tex_escape(f['source'])}:}} ${f['lhs']}$: {tex_escape(what)}.\n\n")
        if markdown:
            return f"\n*{f['source']}:*\n\n$$\n{f['lhs']} = {f['tex']}\n$$\n"
        return (f"% formula {f['id']}: {f['source']}\n\\noindent\\emph{{{tex_escape(f['source'])}:}}\n"
                + display(f"{f['lhs']} = {f['tex']}"))

    def prop(pid, lhs, tex):
        return f"% formula property/{pid}: lossgen.analysis\n" + display(f"{lhs} = {tex}")

    def point(pt):
        return ", ".join(f"${symbol_latex(k)} = {num(v)}$" for k, v in pt.items())

    def mdpoint(pt):
        return ", ".join(f"{k} = {num(v)}" for k, v in pt.items())

    def md_num(v):
        return "∞" if v == "oo" else num(v)

    return {"group": group, "formula": formula, "property": prop, "point": point, "mdpoint": mdpoint,
            "num": md_num if markdown else num, "yesno": yesno, "verdict": verdict, "sym": symbol_latex}


def render_tex(record: dict, plot_sha256: str) -> str:
    return environment().get_template("section.tex.j2").render(
        r=record, props=record["properties"], plot_sha256=plot_sha256, **_helpers(record, False))


def render_md(record: dict) -> str:
    text = environment().get_template("section.md.j2").render(
        r=record, props=record["properties"], **_helpers(record, True))
    return re.sub(r"\n{3,}", "\n\n", text)
