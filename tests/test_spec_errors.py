"""Malformed and hostile spec files are refused with a SpecError that says where.

Every spec text here is built by hand, so the expected line and column of the
offending token are known independently of lossgen: the loss sits on line 3, its
value starts in column 9 (right after ``loss = "``), and a token at 0-based index
``k`` of the expression is in column ``9 + k``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lossgen
from lossgen.spec import load_spec

HEAD = 'name = "probe"\ncategory = "regression"\n'          # lines 1-2
LOSS_LINE = 3
VALUE_COL = len('loss = "') + 1                               # 9: first character inside the quotes
TAIL = '''
[[inputs]]
name = "pred"
role = "prediction"

[[inputs]]
name = "target"
role = "target"

[[params]]
name = "c"
default = 2.0
constraint = "c > 0"
'''
# line numbers in HEAD + loss line + TAIL
INPUTS1_HEADER_LINE = 9
PARAM_DEFAULT_LINE = 15
PARAM_CONSTRAINT_LINE = 16


def spec_text(loss: str, quote: str = "'", head: str = HEAD, tail: str = TAIL) -> str:
    """A spec with ``loss`` on line 3, as a TOML literal string by default (no escapes)."""
    return head + f"loss = {quote}{loss}{quote}\n" + tail


def write(tmp_path: Path, text: str, name: str = "probe.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refuse(path: Path) -> lossgen.SpecError:
    with pytest.raises(lossgen.SpecError) as info:
        load_spec(path)
    err = info.value
    assert isinstance(err, lossgen.LossgenError)
    assert err.file == str(path)
    assert str(path) in str(err)
    return err


def assert_at(err: lossgen.SpecError, path: Path, key: str, line: int, column: int):
    assert err.key == key, str(err)
    assert f"'{key}'" in str(err)
    assert (err.line, err.column) == (line, column), str(err)
    assert f"{path}:{line}:{column}:" in str(err)


def test_a_valid_probe_spec_loads(tmp_path):
    # the control for every case below: the same spec with a sound loss loads
    spec = load_spec(write(tmp_path, spec_text("c*(pred - target)**2")))
    assert spec.name == "probe"
    assert [i.name for i in spec.inputs] == ["pred", "target"]
    assert [(p.name, p.default) for p in spec.params] == [("c", 2.0)]


# (id, loss expression, the offending token (its first occurrence), a fragment of the message)
EXPRESSION_CASES = [
    ("unknown_function", "c*(pred - target)**2 + foo(pred)", "foo", "unknown function 'foo'"),
    ("unknown_name", "(pred - target)**2 + nosuch*c", "nosuch", "unknown name 'nosuch'"),
    ("attribute", "c*(pred - target)**2 + pred.real", "pred.real", "attribute"),
    ("dunder_attribute", "pred + ().__class__", "()", "attribute"),
    ("import_system", '__import__("os").system("touch /nonexistent/x")', "__import__", "function"),
    ("bare_import", 'pred + __import__("os")', "__import__", "unknown function '__import__'"),
    ("eval", 'pred + eval("1")', "eval", "unknown function 'eval'"),
    ("lambda_call", "pred + (lambda x: x)(pred)", "(lambda", "lambda"),
    ("lambda", "lambda: pred", "lambda", "lambda"),
    ("list_comprehension", "pred + [p for p in (pred, target)]", "[p for", "comprehension"),
    ("subscript", "pred + target[0]", "target[0]", "subscript"),
    ("string_constant", 'pred + "s"', '"s"', "constant"),
    ("keyword_argument", "c*log(1 + pred**2, base=c)", "c)", "keyword"),
    ("call_of_a_param", "c(pred)", "c", "unknown function 'c'"),
    ("syntax_error", "pred + * target", "*", "syntax error"),
    ("unclosed_paren", "c*log(1 + pred", "(", "syntax error"),
]


@pytest.mark.parametrize("loss, token, fragment",
                         [c[1:] for c in EXPRESSION_CASES], ids=[c[0] for c in EXPRESSION_CASES])
def test_bad_expression_is_refused_at_its_column(tmp_path, loss, token, fragment):
    path = write(tmp_path, spec_text(loss))
    err = refuse(path)
    assert_at(err, path, "loss", LOSS_LINE, VALUE_COL + loss.index(token))
    assert fragment.lower() in err.message.lower()
    # the message quotes the line and puts a caret under the token
    shown = str(err).splitlines()
    assert shown[1].strip() == f"loss = '{loss}'"
    assert shown[2].index("^") == shown[1].index(token, shown[1].index("'"))


def test_syntax_error_after_leading_blanks_points_at_the_token(tmp_path):
    loss = "  pred + * target"
    path = write(tmp_path, spec_text(loss))
    assert_at(refuse(path), path, "loss", LOSS_LINE, VALUE_COL + loss.index("*"))


def test_syntax_error_at_end_of_input_points_past_the_expression(tmp_path):
    loss = "c*(pred - target) +"
    path = write(tmp_path, spec_text(loss))
    err = refuse(path)
    assert_at(err, path, "loss", LOSS_LINE, VALUE_COL + len(loss))
    assert "syntax error" in err.message


def test_column_counts_raw_characters_of_an_escaped_basic_string(tmp_path):
    # in a TOML basic string, \u0041 is six characters in the file for one 'A' in the value
    line = 'loss = "\\u0041bs(pred - target) + foo(c)"'
    path = write(tmp_path, HEAD + line + "\n" + TAIL)
    err = refuse(path)
    assert_at(err, path, "loss", LOSS_LINE, line.index("foo") + 1)


def test_bad_subexpression_names_its_key(tmp_path):
    text = spec_text("c*r**2") + '\n[expressions]\nr = "pred.real - target"\n'
    path = write(tmp_path, text)
    line = text.splitlines().index('r = "pred.real - target"') + 1
    err = refuse(path)
    assert_at(err, path, "expressions.r", line, len('r = "') + 1)
    assert "attribute" in err.message


def test_bad_constraint_names_its_table_entry(tmp_path):
    path = write(tmp_path, spec_text("c*(pred - target)**2", tail=TAIL.replace('"c > 0"', '"c > foo(0)"')))
    err = refuse(path)
    assert_at(err, path, "params[0].constraint", PARAM_CONSTRAINT_LINE, len('constraint = "c > ') + 1)
    assert "unknown function 'foo'" in err.message


def test_param_default_violating_its_constraint(tmp_path):
    path = write(tmp_path, spec_text("c*(pred - target)**2", tail=TAIL.replace("default = 2.0", "default = -1.5")))
    err = refuse(path)
    assert_at(err, path, "params[0].default", PARAM_DEFAULT_LINE, len("default = ") + 1)
    assert "violates" in err.message and "c > 0" in err.message


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, HEAD + "lost = 3\n" + "loss = 'c*(pred - target)**2'\n" + TAIL)
    err = refuse(path)
    assert_at(err, path, "lost", 3, len("lost = ") + 1)
    assert "unknown key" in err.message


def test_unknown_key_in_an_inputs_table(tmp_path):
    path = write(tmp_path, spec_text("c*(pred - target)**2", tail=TAIL.replace('role = "target"', 'rol = "target"')))
    err = refuse(path)
    assert err.key == "inputs[1].rol"
    assert (err.line, err.column) == (INPUTS1_HEADER_LINE + 2, len("rol = ") + 2)
    assert "unknown key" in err.message


@pytest.mark.parametrize("key", ["loss", "category", "name"])
def test_missing_required_top_level_key(tmp_path, key):
    head = spec_text("c*(pred - target)**2", tail="").splitlines(keepends=True)
    text = "".join(ln for ln in head if not ln.startswith(f"{key} =")) + TAIL
    path = write(tmp_path, text)
    err = refuse(path)
    assert err.key == key
    assert f"missing required key '{key}'" in str(err)


def test_inputs_table_without_name(tmp_path):
    path = write(tmp_path, spec_text("c*pred", tail=TAIL.replace('name = "target"\n', "")))
    err = refuse(path)
    assert err.key == "inputs[1].name"
    assert err.line == INPUTS1_HEADER_LINE
    assert "missing required key 'name'" in err.message


def test_no_inputs_at_all(tmp_path):
    path = write(tmp_path, HEAD + "loss = 'pred'\n")
    err = refuse(path)
    assert err.key == "inputs"
    assert "missing required key 'inputs'" in err.message


def test_param_without_default(tmp_path):
    path = write(tmp_path, spec_text("c*(pred - target)**2", tail=TAIL.replace("default = 2.0\n", "")))
    err = refuse(path)
    assert err.key == "params[0].default"
    assert "missing required key 'default'" in err.message


@pytest.mark.parametrize("head, line, column, key", [
    ('name = "probe"\ncategory = "nonsense"\n', 2, len('category = "') + 1, "category"),
    ('name = "Not-A-Name"\ncategory = "regression"\n', 1, len('name = "') + 1, "name"),
], ids=["unknown_category", "invalid_loss_name"])
def test_bad_value_of_a_key(tmp_path, head, line, column, key):
    path = write(tmp_path, spec_text("c*(pred - target)**2", head=head))
    assert_at(refuse(path), path, key, line, column)


def test_loss_of_the_wrong_type(tmp_path):
    path = write(tmp_path, HEAD + "loss = 3\n" + TAIL)
    err = refuse(path)
    assert err.key == "loss" and err.line == LOSS_LINE
    assert "expected" in err.message


@pytest.mark.parametrize("text, line, column", [
    ('name = "probe"\ncategory = = "regression"\n', 2, len("category = ") + 1),
    (HEAD + 'loss = "pred\n' + TAIL, 3, len('loss = "pred') + 1),
    (HEAD + 'loss = "pred"\nloss = "target"\n' + TAIL, 4, None),
], ids=["stray_equals", "unterminated_string", "duplicate_key"])
def test_invalid_toml(tmp_path, text, line, column):
    path = write(tmp_path, text)
    err = refuse(path)
    assert "invalid TOML" in err.message
    assert err.line == line
    if column is not None:
        assert err.column == column
    assert f"{path}:{line}:" in str(err)


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(spec_text("c*pred").replace("probe", "caf\u00e9").encode("latin-1"))
    assert "UTF-8" in refuse(path).message


def test_missing_file(tmp_path):
    assert "cannot read" in refuse(tmp_path / "nope.toml").message


def test_a_loss_that_is_a_bare_input_is_an_expression_not_a_condition(tmp_path):
    # SymPy's Symbol is also a Boolean: that must not make "pred" look like a condition
    spec = load_spec(write(tmp_path, spec_text("((pred))")))
    assert str(spec.loss) == "pred"


# ---- hostile text is never executed ---------------------------------------------------------

def _payloads(marker: Path) -> list[str]:
    m = str(marker)
    assert "'" not in m and '"' not in m and "\\" not in m
    return [
        f'__import__("os").system("touch {m}")',
        f'pred + __import__("os").system("touch {m}")',
        f'open("{m}", "w")',
        f'Piecewise((open("{m}", "w"), True))',
        f'exec("open(\\"{m}\\", \\"w\\")")',           # literal TOML string: Python sees \" escapes
        f'eval("__import__(\\"os\\").system(\\"touch {m}\\")")',
        f'getattr(__builtins__, "open")("{m}", "w")',
        f'pred if __import__("os").system("touch {m}") else target',
        f'().__class__.__base__.__subclasses__()[0]("{m}")',
        f'(lambda: __import__("os").system("touch {m}"))()',
        f'[__import__("os").system("touch {m}") for _ in (1,)]',
    ]


def test_payloads_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "PWNED"
    # the payloads are live: run as Python, the first one would create the marker
    probe = tmp_path / "probe_marker"
    subprocess.run([sys.executable, "-c", _payloads(probe)[0]], check=True)
    assert probe.exists()

    for k, payload in enumerate(_payloads(marker)):
        path = write(tmp_path, spec_text(payload), f"payload{k}.toml")
        err = refuse(path)
        assert err.key == "loss" and err.line == LOSS_LINE, str(err)
        with pytest.raises(lossgen.SpecError):
            lossgen.compile(path)
        assert not marker.exists(), payload


def test_payload_in_a_param_constraint_is_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    tail = TAIL.replace('constraint = "c > 0"', f"constraint = 'c > __import__(\"os\").system(\"touch {marker}\")'")
    err = refuse(write(tmp_path, spec_text("c*(pred - target)**2", tail=tail)))
    assert err.key == "params[0].constraint"
    assert not marker.exists()


# ---- bounded work -----------------------------------------------------------------------------

LIMIT_S = 5.0
PATHOLOGICAL = {
    "parens_10000": "(" * 10000 + "pred - target" + ")" * 10000,
    "parens_1000": "(" * 1000 + "pred - target" + ")" * 1000,
    "nested_calls_500": "exp(" * 500 + "pred" + ")" * 500,
    "power_tower": "2**2**2**2**2**2**2",
    "symbolic_power_tower": "(pred - target)**2**2**2**2**2**2",
    "expression_100kB": "pred + " * 14300 + "target",
    "terms_5000": "+".join(["pred"] * 5000),
    "unary_minus_3000": "-" * 3000 + "pred",
    "huge_integer": "9" * 3000 + "*pred",
    "integer_product_overflow": "10**256*10**256*pred",
    "float_overflow": "1e400*pred",
    "infinity": "oo*pred",
    "zero_over_zero": "pred*0/0",
    "one_over_zero": "pred + 1/0",
    "terms_700": "+".join(["pred"] * 700),
    "many_nodes": "Max(pred" + ", 1" * 1300 + ")",
}


@pytest.mark.parametrize("loss", list(PATHOLOGICAL.values()), ids=list(PATHOLOGICAL))
def test_pathological_expression_is_refused_quickly(tmp_path, loss):
    path = write(tmp_path, spec_text(loss))
    t0 = time.perf_counter()
    with pytest.raises(lossgen.SpecError) as info:
        load_spec(path)
    assert time.perf_counter() - t0 < LIMIT_S
    err = info.value
    assert err.key == "loss" and err.line == LOSS_LINE and err.column is not None, str(err)


def _env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSGEN_")}
    env["LOSSGEN_CACHE_DIR"] = str(tmp_path / "cache")
    return env


def test_deep_but_legal_expression_builds_quickly(tmp_path):
    # close to the parser's limits, still accepted: the whole pipeline stays fast
    loss = "(" * 150 + "c*(pred - target)**2" + ")" * 150
    spec_path = write(tmp_path, spec_text(loss))
    out = tmp_path / "out"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "lossgen.cli", "build", str(spec_path), "--out", str(out)],
                       capture_output=True, text=True, env=_env(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    assert (out / "probe.py").is_file()
    seconds = float(r.stdout.split("written")[1].split()[0])   # the build's own timing of this spec
    assert seconds < LIMIT_S, (seconds, time.perf_counter() - t0)


def test_sum_of_kinks_builds_in_bounded_time(tmp_path):
    """SymPy's simplification of Piecewise conditions is exponential in the number of
    kinks; the lowering stage only simplifies candidates with few kink atoms (measured:
    a 10-term sum of Abs builds in about 11 s, it took minutes before)."""
    loss = " + ".join(f"Abs(pred - {k})" for k in range(10))
    spec_path = write(tmp_path, spec_text(loss))
    try:
        r = subprocess.run([sys.executable, "-m", "lossgen.cli", "build", str(spec_path), "--out",
                            str(tmp_path / "out")], capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("lossgen build of a 10-term sum of Abs did not finish in 60 s")
    assert r.returncode == 0, r.stderr


def test_build_watchdog_stops_an_expensive_spec_cleanly(tmp_path):
    """Whatever the expression, a build never hangs: past LOSSGEN_BUILD_TIMEOUT seconds it
    stops with a clear error and writes nothing."""
    loss = " + ".join(f"Abs(pred - {k})" for k in range(10))
    spec_path = write(tmp_path, spec_text(loss))
    env = dict(_env(tmp_path), LOSSGEN_BUILD_TIMEOUT="0.3")
    r = subprocess.run([sys.executable, "-m", "lossgen.cli", "build", str(spec_path), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "took longer than 0.3 s" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.py"))
