"""The README quickstart runs as written, so it cannot rot.

The fenced blocks between ``<!-- quickstart:begin -->`` and ``<!-- quickstart:end -->``
are extracted and run in order in a fresh directory: ``sh`` blocks are ``lossgen``
commands (run as ``python -m lossgen.cli`` in a subprocess, as the console script would),
``python`` blocks share one namespace.  Then what they produced is checked against
independent truth: the XGBoost model with the Cauchy objective beats the plain
squared-error model on heavy-tailed noise, and the PyTorch step lowered the loss
computed by torch's own ops.
"""
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def quickstart_blocks() -> list[tuple[str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    begin, end = text.index("<!-- quickstart:begin -->"), text.index("<!-- quickstart:end -->")
    return BLOCK.findall(text[begin:end])


def test_quickstart_has_a_command_an_xgboost_model_and_a_torch_step():
    blocks = quickstart_blocks()
    kinds = [k for k, _ in blocks]
    assert kinds[0] == "sh" and set(kinds[1:]) == {"python"}
    code = "\n".join(c for _, c in blocks)
    assert "lossgen.xgboost.objective" in code and "xgb.train" in code
    assert "lossgen.torch.Loss" in code and "loss.backward()" in code and "optimizer.step()" in code


def test_quickstart_runs(tmp_path, monkeypatch, request):
    pytest.importorskip("xgboost")
    torch = pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    # the compiled spec (and Numba's cache of its kernels) persists in pytest's cache
    # between runs, keyed by spec and generator hashes as lossgen.compile keys it
    monkeypatch.setenv("LOSSGEN_CACHE_DIR", str(request.config.cache.mkdir("lossgen-readme")))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    namespace: dict = {}
    for kind, code in quickstart_blocks():
        if kind == "sh":
            for line in filter(None, (ln.strip() for ln in code.splitlines())):
                argv = shlex.split(line)
                assert argv[0] == "lossgen", line
                r = subprocess.run([sys.executable, "-m", "lossgen.cli", *argv[1:]], env=env, text=True,
                                   capture_output=True, timeout=300, check=False)
                assert r.returncode == 0, r.stderr
                assert "d loss / d pred = " in r.stdout and "Properties" in r.stdout
        else:
            exec(compile(code, "README.md quickstart", "exec"), namespace)   # noqa: S102 - our own README

    X = namespace["X"]
    clean = X[:, 0] - 2 * X[:, 1]
    xgb = namespace["xgb"]
    plain = xgb.train({"max_depth": 3, "eta": 0.3}, namespace["dtrain"], num_boost_round=50)
    robust_err = np.abs(namespace["scores"] - clean).mean()
    plain_err = np.abs(plain.predict(namespace["dtrain"]) - clean).mean()
    assert robust_err < 0.6 * plain_err, (robust_err, plain_err)

    # the torch step: the module's loss equals the Cauchy loss in torch ops, and went down
    model, inputs, targets = namespace["model"], namespace["inputs"], namespace["targets"]
    with torch.no_grad():
        r = model(inputs).squeeze(1) - targets
        after = (2.0 ** 2 / 2 * torch.log1p((r / 2.0) ** 2)).mean().item()
    before = namespace["loss"].item()
    assert math.isfinite(before) and after < before
