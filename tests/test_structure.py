"""The spec model expresses non-batch axes and reductions over them (class axis,
embedding axis, whole-set reductions); such specs build through the structured stage,
and the few shapes its kernels cannot run are refused with a clear message."""
import re
import subprocess
import sys
import textwrap

import pytest

from lossgen.errors import BuildError, SpecError
from lossgen.build import generate
from lossgen.spec import parse_spec_text
from lossgen.spec.structure import Axis, AxisReduction, logsumexp_over, norm_over, sum_over, take

SOFTMAX_CE = textwrap.dedent('''
    name = "softmax_ce"
    category = "classification"
    loss = "logsumexp_over(logits, \\"class\\") - take(logits, target)"

    [[inputs]]
    name = "logits"
    role = "prediction"
    axes = ["class"]

    [[inputs]]
    name = "target"
    role = "target"
    domain = "nonnegative"
''')

DICE = textwrap.dedent('''
    name = "soft_dice"
    category = "segmentation"
    loss = "1 - (2*sum_over(pred*target, \\"set\\") + s)/(sum_over(pred, \\"set\\") + sum_over(target, \\"set\\") + s)"

    [[inputs]]
    name = "pred"
    domain = "unit_interval"

    [[inputs]]
    name = "target"
    role = "target"
    domain = "unit_interval"

    [[params]]
    name = "s"
    default = 1.0
    constraint = "s >= 0"
''')

TRIPLET = textwrap.dedent('''
    name = "triplet"
    category = "metric"
    loss = "Max(norm_over(anchor - positive, \\"embed\\", 2) - norm_over(anchor - negative, \\"embed\\", 2) + margin, 0)"

    [[inputs]]
    name = "anchor"
    axes = ["embed"]
    [[inputs]]
    name = "positive"
    role = "auxiliary"
    differentiable = true
    axes = ["embed"]
    [[inputs]]
    name = "negative"
    role = "auxiliary"
    differentiable = true
    axes = ["embed"]

    [[params]]
    name = "margin"
    default = 1.0
''')


def test_class_axis_reduction_parses_into_the_model():
    spec = parse_spec_text(SOFTMAX_CE, "softmax_ce.toml")
    assert spec.input("logits").axes == ("class",)
    assert not spec.is_elementwise
    lse = list(spec.loss.atoms(logsumexp_over))
    assert len(lse) == 1 and lse[0].args[1] == Axis("class")
    assert spec.loss.atoms(take)


def test_set_level_reduction_parses():
    spec = parse_spec_text(DICE, "dice.toml")
    sums = spec.loss.atoms(sum_over)
    assert {s.args[1].axis_name for s in sums} == {"set"}
    assert len(sums) == 3
    assert not spec.is_elementwise


def test_embedding_axis_norms_parse():
    spec = parse_spec_text(TRIPLET, "triplet.toml")
    norms = spec.loss.atoms(norm_over)
    assert len(norms) == 2 and all(n.args[2] == 2 for n in norms)
    assert all(isinstance(n, AxisReduction) for n in norms)
    assert [i.name for i in spec.differentiable_inputs] == ["anchor", "positive", "negative"]


def test_undeclared_axis_is_refused_with_position():
    bad = SOFTMAX_CE.replace('\\"class\\") -', '\\"klass\\") -')
    with pytest.raises(SpecError) as exc:
        parse_spec_text(bad, "bad.toml")
    e = exc.value
    assert "unknown axis 'klass'" in e.message and e.key == "loss"
    # the axis name's opening quote, written \" in the TOML string (1-based column)
    assert e.line == 4 and e.column == bad.splitlines()[3].index('\\"klass') + 1
    # a token after escapes is located in the raw line, not at its decoded offset
    bad2 = SOFTMAX_CE.replace("take(logits, target)", "take(logits, target) + foo(1)")
    with pytest.raises(SpecError) as exc2:
        parse_spec_text(bad2, "bad2.toml")
    assert exc2.value.column == bad2.splitlines()[3].index("foo") + 1


def test_structured_specs_build_and_run(tmp_path):
    """A structured spec builds (lossgen.derive.reductions + codegen.structured) into a module
    whose kernels give the loss and its chain-rule gradient."""
    import numpy as np
    import lossgen
    path = tmp_path / "softmax_ce.toml"
    path.write_text(SOFTMAX_CE)
    gen = generate(path)
    assert "STRUCTURED = True" in gen.files["softmax_ce.py"]
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lossgen.cli", "build", str(path), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "softmax_ce.py").read_text() == gen.files["softmax_ce.py"]     # reproducible
    loss = lossgen.compile(path)
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    t = np.array([2, 0])
    lse = np.log(np.exp(x).sum(axis=1))
    np.testing.assert_allclose(loss.loss(x, t, reduction="none"), lse - x[[0, 1], t], rtol=1e-15)
    softmax = np.exp(x - lse[:, None])
    np.testing.assert_allclose(loss.grad(x, t, reduction="sum"), softmax - np.eye(3)[t], rtol=1e-14, atol=1e-16)


def test_structured_specs_the_kernels_cannot_run_are_refused(tmp_path):
    two_axes = SOFTMAX_CE.replace('axes = ["class"]', 'axes = ["class"]\n[[inputs]]\nname = "e"\naxes = ["embed"]', 1)
    # two axes are fine (tests/test_structured_axes.py); a body over one reading the other's input is not
    two_axes = two_axes.replace('loss = "', 'loss = "sum_over(e*logits, \\"embed\\") + ', 1)
    path = tmp_path / "two_axes.toml"
    path.write_text(two_axes)
    message = "a reduction over 'embed' reads 'logits' (axis 'class')"
    with pytest.raises(BuildError, match=re.escape(message)):
        generate(path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lossgen.cli", "build", str(path), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())
