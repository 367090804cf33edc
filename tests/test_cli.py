"""The ``lossgen`` command line, run as a subprocess against temporary directories.

Nothing here writes into the repository: catalog copies live under tmp_path and are
selected with LOSSGEN_SPECS_DIR / LOSSGEN_GENERATED_DIR, the user cache with
LOSSGEN_CACHE_DIR.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

import lossgen

REPO = Path(__file__).resolve().parents[1]


def env_for(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSGEN_")}
    env["LOSSGEN_CACHE_DIR"] = str(tmp_path / "user-cache")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(*args, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lossgen.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_clean_failure(r: subprocess.CompletedProcess):
    """Exit status 1, one `error: ...` message on stderr, no traceback."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    assert "error: " in r.stderr, r.stderr


def catalog_copy(tmp_path: Path) -> tuple[Path, Path, dict]:
    """Copies of specs/ and generated/ (sources only) and an env that points lossgen at them."""
    specs, generated = tmp_path / "specs", tmp_path / "generated"
    shutil.copytree(REPO / "specs", specs, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "generated", generated, ignore=shutil.ignore_patterns("__pycache__", "*.nb[ci]"))
    return specs, generated, env_for(tmp_path, LOSSGEN_SPECS_DIR=specs, LOSSGEN_GENERATED_DIR=generated)


GOOD = '''name = "probe_loss"
category = "regression"
loss = "c*(pred - target)**2"

[[inputs]]
name = "pred"

[[inputs]]
name = "target"

[[params]]
name = "c"
default = 2.0
constraint = "c > 0"
'''


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# ---- lossgen build ---------------------------------------------------------------------------

# (id, the broken spec text, fragments stderr must show: the key and line:col)
BROKEN = [
    ("attribute", GOOD.replace('"c*(pred - target)**2"', '"c*(pred - target)**2 + pred.real"'),
     ["'loss'", ":3:%d:" % (len('loss = "c*(pred - target)**2 + ') + 1), "attribute"]),
    ("unknown_function", GOOD.replace('"c*(pred - target)**2"', '"foo(pred)"'),
     ["'loss'", ":3:9:", "unknown function 'foo'"]),
    ("bad_default", GOOD.replace("default = 2.0", "default = -2.0"),
     ["'params[0].default'", ":13:11:", "violates"]),
    ("invalid_toml", GOOD.replace('category = "regression"', 'category = regression'),
     [":2:12:", "invalid TOML"]),
]


@pytest.mark.parametrize("broken, fragments", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_build_of_a_broken_spec_fails_cleanly_and_keeps_previous_output(tmp_path, broken, fragments):
    env = env_for(tmp_path)
    spec, out = tmp_path / "probe_loss.toml", tmp_path / "out"
    spec.write_text(GOOD)
    r = run("build", spec, "--out", out, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    before = snapshot(out)
    assert list(before) == ["probe_loss.py"]

    spec.write_text(broken)                     # the same spec, now broken
    r = run("build", spec, "--out", out, cwd=tmp_path, env=env)
    assert_clean_failure(r)
    assert r.stderr.lstrip().startswith("error: ")
    assert str(spec) in r.stderr
    for fragment in fragments:
        assert fragment in r.stderr, (fragment, r.stderr)
    assert snapshot(out) == before              # byte-identical, not even rewritten


def test_build_keeps_going_past_a_broken_spec_but_fails(tmp_path):
    env = env_for(tmp_path)
    bad, good = tmp_path / "bad.toml", tmp_path / "good.toml"
    bad.write_text(GOOD.replace("probe_loss", "bad_one").replace('"c*(pred - target)**2"', '"pred +"'))
    good.write_text(GOOD)
    r = run("build", bad, good, "--out", tmp_path / "out", cwd=tmp_path, env=env)
    assert_clean_failure(r)
    assert str(bad) in r.stderr and "syntax error" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["probe_loss.py"]


def test_build_twice_reports_unchanged_and_output_is_reproducible(tmp_path):
    spec = tmp_path / "probe_loss.toml"
    spec.write_text(GOOD)
    out = tmp_path / "out"
    r1 = run("build", spec, "--out", out, cwd=tmp_path, env=env_for(tmp_path))
    assert r1.returncode == 0, r1.stderr
    assert "1 written" in r1.stdout
    first = snapshot(out)

    r2 = run("build", spec, "--out", out, cwd=tmp_path, env=env_for(tmp_path))
    assert r2.returncode == 0, r2.stderr
    assert "unchanged" in r2.stdout and "1 unchanged" in r2.stdout and "0 written" in r2.stdout
    assert snapshot(out) == first

    # a fresh generation in another process (other hash seed, other folder) is byte-identical
    again, elsewhere = tmp_path / "again", tmp_path / "elsewhere"
    elsewhere.mkdir()
    r3 = run("build", spec, "--out", again, cwd=elsewhere, env=env_for(tmp_path, PYTHONHASHSEED="12345"))
    assert r3.returncode == 0, r3.stderr
    assert (again / "probe_loss.py").read_bytes() == first["probe_loss.py"][0]


def test_build_of_a_catalog_loss_reproduces_the_committed_module(tmp_path):
    r = run("build", "huber", "--out", tmp_path, cwd=tmp_path, env=env_for(tmp_path, PYTHONHASHSEED="7"))
    assert r.returncode == 0, r.stderr
    # byte for byte, but for the committed module's accuracy certificate (a measurement
    # of this very text, which a build with --out does not make)
    from lossgen.certificate import split
    head, block, body = split((REPO / "generated" / "huber.py").read_text(encoding="utf-8"))
    assert block.startswith("# accuracy certificate of content sha256 ")
    assert (tmp_path / "huber.py").read_bytes() == (head + body).encode("utf-8")


def test_build_refuses_a_payload_without_running_it(tmp_path):
    marker = tmp_path / "PWNED"
    spec = tmp_path / "evil.toml"
    spec.write_text(GOOD.replace('"c*(pred - target)**2"', f"'__import__(\"os\").system(\"touch {marker}\")'"))
    r = run("build", spec, "--out", tmp_path / "out", cwd=tmp_path, env=env_for(tmp_path))
    assert_clean_failure(r)
    assert ":3:9:" in r.stderr
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ---- lossgen check ---------------------------------------------------------------------------

def test_check_passes_on_the_repository():
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSGEN_")}
    r = run("check", cwd=REPO, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_check_passes_on_a_pristine_copy(tmp_path):
    _, _, env = catalog_copy(tmp_path)
    r = run("check", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


def _hand_edit(specs: Path, generated: Path) -> str:
    with open(generated / "huber.py", "a", encoding="utf-8") as f:
        f.write("# a harmless-looking hand edit\n")
    return "huber.py"


def _orphan(specs: Path, generated: Path) -> str:
    shutil.copy(generated / "mse.py", generated / "orphan_loss.py")
    return "orphan_loss.py"


def _missing(specs: Path, generated: Path) -> str:
    (generated / "mae.py").unlink()
    return "mae.py"


def _spec_changed(specs: Path, generated: Path) -> str:
    path = specs / "cauchy.toml"
    path.write_text(path.read_text() + "\n# edited after the build\n")
    return "cauchy.py"


@pytest.mark.parametrize("damage", [_hand_edit, _orphan, _missing, _spec_changed],
                         ids=["hand_edited", "no_spec", "missing", "spec_changed"])
def test_check_fails_and_names_the_file(tmp_path, damage):
    specs, generated, env = catalog_copy(tmp_path)
    name = damage(specs, generated)
    r = run("check", cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    flagged = [ln for ln in r.stderr.splitlines() if ln.startswith("stale:")]
    assert len(flagged) == 1 and name in flagged[0], r.stderr
    assert "lossgen build" in r.stderr


# ---- lossgen list / show ---------------------------------------------------------------------

def test_list_prints_every_catalog_name(tmp_path):
    r = run("list", cwd=tmp_path, env=env_for(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[0] == "name" and set(lines[1].replace(" ", "")) == {"-"}
    rows = lines[2:lines.index("")]
    names = [row.split()[0] for row in rows]
    assert names == lossgen.catalog()
    assert len(names) >= 10
    assert f"{len(names)} losses" in r.stdout


def test_show_huber_prints_the_loss_and_a_correct_gradient(tmp_path):
    r = run("show", "huber", cwd=tmp_path, env=env_for(tmp_path))
    assert r.returncode == 0, r.stderr
    spec_loss = tomllib.loads((REPO / "specs" / "huber.toml").read_text())["loss"]
    assert f"loss = {spec_loss}" in r.stdout
    grad_lines = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("d loss / d pred = ")]
    assert len(grad_lines) == 1
    pred, target, delta = sp.symbols("pred target delta", real=True)
    shown = sp.parse_expr(grad_lines[0].split("=", 1)[1],
                          local_dict={"pred": pred, "target": target, "delta": delta})

    def truth(p, t, d):       # the Huber gradient, by hand
        r = p - t
        return r if abs(r) <= d else d * (1 if r > 0 else -1)

    for p, t, d in [(0.3, -0.2, 1.0), (3.0, 0.5, 1.3), (-2.0, 1.0, 1.0), (0.1, 0.6, 0.25)]:
        value = float(shown.subs({pred: p, target: t, delta: d}))
        assert value == pytest.approx(truth(p, t, d), rel=1e-12, abs=1e-15)


def test_show_unknown_loss_fails_cleanly(tmp_path):
    r = run("show", "nosuchloss", cwd=tmp_path, env=env_for(tmp_path))
    assert_clean_failure(r)
    assert "nosuchloss" in r.stderr
    assert r.stdout == ""


# ---- lossgen new -----------------------------------------------------------------------------

NEW_EXPR = "log(1 + (pred - target)**2/c) * c + a*Abs(pred - target)"


def _truth(expr_text: str):
    """loss and d loss / d pred as mpmath functions of (pred, target, a, c), from SymPy alone."""
    pred, target, a, c = sp.symbols("pred target a c", real=True)
    expr = sp.parse_expr(expr_text, local_dict={"pred": pred, "target": target, "a": a, "c": c,
                                                 "Abs": sp.Abs, "log": sp.log})
    args = (pred, target, a, c)
    return (sp.lambdify(args, expr, modules="mpmath"),
            sp.lambdify(args, sp.diff(expr, pred), modules="mpmath"))


def test_new_scaffolds_a_spec_that_compiles_to_correct_kernels(tmp_path, monkeypatch):
    work = tmp_path / "elsewhere"                   # outside the repository
    work.mkdir()
    env = env_for(tmp_path)
    r = run("new", "my_cauchy_l1", "--expr", NEW_EXPR, "--param", "c=2.0", "-o", "mine.toml", cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    path = work / "mine.toml"
    text = path.read_text()
    assert f'loss = "{NEW_EXPR}"\n' in text             # the expression, verbatim
    data = tomllib.loads(text)
    assert data["name"] == "my_cauchy_l1" and data["loss"] == NEW_EXPR
    assert [i["name"] for i in data["inputs"]] == ["pred", "target"]
    assert {p["name"]: p["default"] for p in data["params"]} == {"a": 1.0, "c": 2.0}

    monkeypatch.setenv("LOSSGEN_CACHE_DIR", str(tmp_path / "user-cache"))
    L = lossgen.compile(path)
    assert L.name == "my_cauchy_l1" and dict(L.params) == {"a": 1.0, "c": 2.0}

    rng = random.Random(20261122)
    pts = [(rng.uniform(-6, 6), rng.uniform(-6, 6)) for _ in range(12)]
    pred = np.array([p for p, _ in pts])
    target = np.array([t for _, t in pts])
    a_val, c_val = 0.75, 2.5
    loss, grad = L.loss_grad(pred, target, reduction="none", a=a_val, c=c_val)
    f_loss, f_grad = _truth(NEW_EXPR)
    with mpmath.workdps(30):
        for k, (p, t) in enumerate(pts):
            args = (mpmath.mpf(p), mpmath.mpf(t), mpmath.mpf(a_val), mpmath.mpf(c_val))
            assert float(loss[k]) == pytest.approx(float(f_loss(*args)), rel=1e-13, abs=0), (p, t)
            assert float(grad[k]) == pytest.approx(float(f_grad(*args)), rel=1e-13, abs=0), (p, t)
    # the truth is not trivially satisfied: a wrong gradient (sign of the Abs term flipped) misses
    with mpmath.workdps(30):
        p, t = pts[0]
        wrong = f_grad(mpmath.mpf(p), mpmath.mpf(t), mpmath.mpf(-a_val), mpmath.mpf(c_val))
        assert float(grad[0]) != pytest.approx(float(wrong), rel=1e-6)

    out = tmp_path / "out"
    r = run("build", path, "--out", out, cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["my_cauchy_l1.py"]
    assert not (REPO / "generated" / "my_cauchy_l1.py").exists()


BAD_NEW = [
    ("attribute", ["bad_loss", "--expr", "pred.real"], "attribute"),
    ("unknown_function", ["bad_loss", "--expr", "(pred - target)**2 + foo(pred)"], "unknown function 'foo'"),
    ("syntax_error", ["bad_loss", "--expr", "(pred - target) +"], "syntax error"),
    ("lambda", ["bad_loss", "--expr", "(lambda x: x)(pred)"], "lambda"),
    ("bad_name", ["Bad-Name", "--expr", "(pred - target)**2"], "not a valid loss name"),
    ("param_not_in_expr", ["bad_loss", "--expr", "(pred - target)**2", "--param", "k=2"], "not a name in the expression"),
    ("param_not_a_number", ["bad_loss", "--expr", "c*(pred - target)**2", "--param", "c=abc"], "not a number"),
]


@pytest.mark.parametrize("args, fragment", [b[1:] for b in BAD_NEW], ids=[b[0] for b in BAD_NEW])
def test_new_with_a_bad_expression_fails_cleanly_and_writes_nothing(tmp_path, args, fragment):
    r = run("new", *args, "-o", "bad.toml", cwd=tmp_path, env=env_for(tmp_path))
    assert_clean_failure(r)
    assert fragment in r.stderr
    assert not (tmp_path / "bad.toml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("expr, column", [
    ("pred.real", 1),
    ("(pred - target)**2 + foo(pred)", len("(pred - target)**2 + ") + 1),
    ("(pred - target) + * 2", len("(pred - target) + ") + 1),
])
def test_new_points_into_the_expression(tmp_path, expr, column):
    r = run("new", "bad_loss", "--expr", expr, cwd=tmp_path, env=env_for(tmp_path))
    assert_clean_failure(r)
    assert "--expr" in r.stderr
    assert f":1:{column}:" in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip() == expr)
    assert lines[k + 1].index("^") == lines[k].index(expr) + column - 1


def test_new_payload_is_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    r = run("new", "evil", "--expr", f'__import__("os").system("touch {marker}")', cwd=tmp_path,
            env=env_for(tmp_path))
    assert_clean_failure(r)
    assert not marker.exists()
    assert not (tmp_path / "evil.toml").exists()


def test_new_does_not_overwrite_without_force(tmp_path):
    (tmp_path / "mine.toml").write_text("keep me\n")
    r = run("new", "mine", "--expr", "(pred - target)**2", cwd=tmp_path, env=env_for(tmp_path))
    assert_clean_failure(r)
    assert (tmp_path / "mine.toml").read_text() == "keep me\n"


# ---- lossgen.get -----------------------------------------------------------------------------

def test_get_unknown_loss_is_a_helpful_lossgen_error():
    with pytest.raises(lossgen.LossgenError) as info:
        lossgen.get("nosuchloss")
    assert "nosuchloss" in str(info.value) and "lossgen.catalog()" in str(info.value)
    with pytest.raises(lossgen.LossgenError, match="did you mean.*huber"):
        lossgen.get("hubre")


GET_SCRIPT = """
import sys, lossgen
for name in sys.argv[1:]:
    try:
        L = lossgen.get(name)
    except lossgen.LossgenError as exc:
        print(name, "LossgenError:", exc)
    else:
        print(name, "OK", L.name)
"""


def test_get_refuses_a_stale_or_missing_generated_module(tmp_path):
    specs, generated, env = catalog_copy(tmp_path)

    def get(*names):
        r = subprocess.run([sys.executable, "-c", GET_SCRIPT, *names], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        return dict(line.split(" ", 1) for line in r.stdout.splitlines())

    assert get("huber", "mse") == {"huber": "OK huber", "mse": "OK mse"}

    huber = specs / "huber.toml"
    huber.write_text(huber.read_text().replace("default = 1.0", "default = 1.5"))   # spec changed after build
    (generated / "mse.py").unlink()
    got = get("huber", "mse")
    assert got["huber"].startswith("LossgenError:") and "stale" in got["huber"]
    assert "lossgen build" in got["huber"] and "huber.py" in got["huber"]
    assert got["mse"].startswith("LossgenError:") and "lossgen build" in got["mse"] and "mse.py" in got["mse"]
