r"""The accuracy certificate in a generated module's header.

After ``lossgen build`` writes a module, it measures the module's compiled kernels
(:func:`lossgen.verify.accuracy.certify`: every output, float64 and float32, against
mpmath on the adversarial grid) and writes the figures as comment lines right after
the four hash lines of the header::

    # accuracy certificate of content sha256 <the module's content hash>
    #   max error in ulps of max(|truth|, smallest normal) on the adversarial grid,
    #   against mpmath at 50+ digits; budgets: 8 (values, gradients), 16 (Hessians),
    #   4 in float32
    #   output                    float64   float32  non-finite      points
    #   loss                          0.9       0.4         0/0     592/592
    ...

The block is not part of the content hash: it is a measurement of the content, and
names the hash it certifies, so ``lossgen check`` tells a missing or outdated
certificate from a current one without measuring again (a measurement depends on the
machine's libm, a generation does not).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from .errors import LossgenError
from .verify.ulps import BUDGET_FLOAT32, BUDGET_HESSIAN, BUDGET_VALUE, budget  # noqa: F401 (re-exported)

HEADER_LINES = 4
START = "# accuracy certificate of content sha256 "
_START_RE = re.compile(r"# accuracy certificate of content sha256 (?P<content>[0-9a-f]{64})\n")


def split(text: str) -> tuple[str, str, str]:
    """(the four hash lines, the certificate block or "", the body)."""
    lines = text.splitlines(keepends=True)
    head, rest = lines[:HEADER_LINES], lines[HEADER_LINES:]
    k = 0
    if rest and rest[0].startswith(START):
        while k < len(rest) and rest[k].startswith("#"):
            k += 1
    return "".join(head), "".join(rest[:k]), "".join(rest[k:])


def content_sha256(body: str) -> str:
    """The content hash of a module's body (everything after the hash lines and the
    certificate): what the header's ``content sha256`` and a certificate name."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def certified_content(text: str) -> str | None:
    """The content hash the file's certificate names, or None without a certificate."""
    _, block, _ = split(text)
    m = _START_RE.match(block)
    return m["content"] if m else None


def render(reports, content_sha256: str) -> str:
    """The comment block for a list of :class:`~lossgen.verify.accuracy.OutputReport`."""
    rows: dict[str, dict[str, object]] = {}
    for r in reports:
        rows.setdefault(r.output, {})[r.dtype] = r
    lines = [START + content_sha256,
             "  max error in ulps of max(|truth|, smallest normal) on the adversarial grid,",
             "  against mpmath at 50+ digits; budgets: 8 (values, gradients), 16 (Hessians),",
             "  4 in float32; non-finite: outputs that are inf/NaN where the truth is finite",
             f"  {'output':<44}{'float64':>9}{'float32':>9}{'non-finite':>12}{'points':>12}"]
    for output, by_dtype in rows.items():
        f64, f32 = by_dtype.get("float64"), by_dtype.get("float32")
        nonfinite = "/".join(str(r.nonfinite) if r else "-" for r in (f64, f32))
        points = "/".join(str(r.points) if r else "-" for r in (f64, f32))
        lines.append(f"  {output:<44}{_fmt(f64):>9}{_fmt(f32):>9}{nonfinite:>12}{points:>12}")
    return "".join(("#" + line if line.startswith("  ") else line) + "\n" for line in lines)


def read(text: str) -> list[dict]:
    """The certificate in a module's text as rows {output, dtype, max_ulp, nonfinite,
    points} (max_ulp as printed: 3 significant digits), or [] without one."""
    _, block, _ = split(text)
    rows = []
    for line in block.splitlines()[5:]:
        output, f64, f32, nonfinite, points = line[1:].split()
        for dtype, ulp, nf, n in zip(("float64", "float32"), (f64, f32), nonfinite.split("/"), points.split("/")):
            if ulp != "-":
                rows.append({"output": output, "dtype": dtype, "max_ulp": float(ulp), "nonfinite": int(nf),
                             "points": int(n)})
    return rows


def _fmt(report) -> str:
    if report is None:
        return "-"
    x = report.max_ulp
    return f"{x:.1f}" if x < 1e4 else f"{x:.1e}"


def attach(path: Path, loss) -> bool:
    """Measure ``loss`` (the module at ``path``, loaded) and write its certificate into
    the file's header; return True if the file changed."""
    from .build import write_atomic
    from .verify.accuracy import certify

    text = path.read_text(encoding="utf-8")
    head, _, body = split(text)
    content = content_sha256(body)
    try:
        reports = certify(loss)
    except Exception as exc:  # noqa: BLE001 - a measurement failure must not lose the module
        raise LossgenError(f"{path}: measuring the accuracy certificate failed: {exc}") from exc
    return write_atomic(path, head + render(reports, content) + body)
