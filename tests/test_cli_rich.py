"""The friendly command line: ``new`` shows derivatives and properties at once, ``show``
renders with rich, ``build`` shows a progress bar — and the plain output that scripts
read stays as it was when the output is not a terminal.

Run in-process (``lossgen.cli.main``) with pytest's captured stdout, which is not a
terminal: ``--format auto`` must then give plain text, ``--format rich`` the rendering.
"""
import re

import pytest
import sympy as sp

from lossgen.cli import main

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
EXPR = "c**2/2*log(1 + ((pred - target)/c)**2)"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, ANSI.sub("", out), err


def _gradient_is_right(shown: str):
    """The printed gradient equals SymPy's derivative of the expression (not lossgen's)."""
    pred, target, c = sp.symbols("pred target c", real=True)
    names = {"pred": pred, "target": target, "c": c, "log": sp.log}
    truth = sp.diff(sp.parse_expr(EXPR, local_dict=names), pred)
    got = sp.parse_expr(shown, local_dict=names)
    for p, t, cv in [(0.3, -1.2, 2.0), (4.0, 0.5, 0.7), (-2.5, 2.0, 1.3)]:
        subs = {pred: p, target: t, c: cv}
        assert float(got.subs(subs)) == pytest.approx(float(truth.subs(subs)), rel=1e-12)


def test_new_prints_gradient_and_properties_at_once(capsys, tmp_path):
    code, out, err = _run(capsys, "new", "my_cauchy", "--expr", EXPR, "--param", "c=2.0", "-o", "mine.toml")
    assert code == 0, err
    assert (tmp_path / "mine.toml").is_file()
    grad = [ln for ln in out.splitlines() if ln.startswith("  d loss / d pred = ")]
    assert len(grad) == 1
    _gradient_is_right(grad[0].split("=", 1)[1])
    assert "d2 loss / d pred d pred = " in out
    # the properties: Cauchy is not convex (a witness), its influence is bounded by c/2
    assert "Properties" in out and "convex:          no" in out and "redescending" in out
    assert "sup|psi| = Abs(c)/2" in out
    assert "lossgen show mine.toml" in out


def test_new_rich_and_without_properties(capsys):
    code, out, _ = _run(capsys, "new", "my_cauchy", "--expr", EXPR, "-o", "a.toml", "--format", "rich")
    assert code == 0
    assert "wrote a.toml" in out and "∂L/∂pred" in out and "∂²L/∂pred²" in out and "convex" in out
    code, out, _ = _run(capsys, "new", "my_cauchy", "--expr", EXPR, "-o", "b.toml", "--no-properties")
    assert code == 0 and "d loss / d pred = " in out and "Properties" not in out


def test_show_renders_with_rich_and_stays_plain_when_piped(capsys):
    code, out, _ = _run(capsys, "show", "huber", "--format", "rich")
    assert code == 0
    assert out.lstrip().startswith("╭─ Huber loss (huber) [robust]")
    for fragment in ("∂L/∂pred", "∂²L/∂pred²", "sign(pred - target)", "parameters", "delta > 0",
                     "stable forms the kernels compute", "convex          yes", "efficiency", "sup|ψ| = delta"):
        assert fragment in out, fragment
    code, plain, _ = _run(capsys, "show", "huber", "--no-properties")      # not a terminal: plain text
    assert code == 0
    assert plain.startswith("Huber loss (huber) [robust]\n")
    assert "  d loss / d pred = Piecewise((pred - target" in plain and "╭" not in plain


def test_build_progress_bar_on_rich_stable_lines_otherwise(capsys, tmp_path):
    specs = []
    for name, expr in [("one_loss", "(pred - target)**2/2"), ("two_loss", "Abs(pred - target)")]:
        code, _, _ = _run(capsys, "new", name, "--expr", expr, "-o", f"{name}.toml", "--no-properties")
        assert code == 0
        specs.append(f"{name}.toml")
    code, out, _ = _run(capsys, "build", *specs, "--out", tmp_path / "out1", "--format", "rich")
    assert code == 0
    assert "building" in out and "2/2" in out and "two_loss: written" in out
    code, out, _ = _run(capsys, "build", *specs, "--out", tmp_path / "out2")
    assert code == 0
    lines = out.splitlines()
    assert re.fullmatch(r"\[1/2\] one_loss +written +\d+\.\d\d s", lines[0]), lines[0]
    assert re.fullmatch(r"\[2/2\] two_loss +written +\d+\.\d\d s", lines[1]), lines[1]
    assert "building" not in out
    code, out, _ = _run(capsys, "build", *specs, "--out", tmp_path / "out2", "-q")
    assert code == 0
    seconds = out.split(" in ")[1].split()[0]
    assert out.splitlines() == [f"2 specs: 0 written, 2 unchanged, 0 failed in {seconds} s -> {tmp_path / 'out2'}"]


def test_spec_errors_show_the_line_and_a_caret(capsys, tmp_path):
    (tmp_path / "broken.toml").write_text('name = "broken"\ncategory = "regression"\nloss = "(pred - target)**2 + foo(pred)"\n\n'
                                          '[[inputs]]\nname = "pred"\n\n[[inputs]]\nname = "target"\n')
    code, _, err = _run(capsys, "show", "broken.toml", "--format", "rich")
    assert code == 1 and "Traceback" not in err
    lines = err.splitlines()
    k = next(i for i, ln in enumerate(lines) if "foo(pred)" in ln and "error" not in ln)
    assert "broken.toml:3:" in err
    assert lines[k + 1].index("^") == lines[k].index("foo")
