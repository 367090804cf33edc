"""Time: a user's loss is analysed within 30 s; a deadline gives "unknown", never a hang."""
from __future__ import annotations

import threading
import time

import pytest

from lossgen.analysis import analyze
from lossgen.analysis.budget import Deadline, Timeout, attempt, limited
from lossgen.scaffold import scaffold


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def test_limited_interrupts_a_long_call():
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        limited(spin, 0.2, 30)
    assert time.monotonic() - t0 < 2
    assert limited(spin, 2.0, 0.01) == "done"
    assert attempt(spin, 0.1, 30, default="unknown") == "unknown"


def test_nested_limits_keep_the_tighter_one():
    def outer():
        # the inner call asks for 10 s but only 0.3 s is left outside
        return attempt(spin, 10.0, 30, default="inner timed out")
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        limited(lambda: (outer(), spin(30)), 0.3)
    assert time.monotonic() - t0 < 2


def test_limited_off_the_main_thread():
    box = {}

    def run():
        t0 = time.monotonic()
        try:
            limited(spin, 0.2, 3)
        except Timeout:
            box["elapsed"] = time.monotonic() - t0
    th = threading.Thread(target=run)
    th.start()
    th.join(10)
    assert box["elapsed"] < 1.5


def test_tiny_deadline_gives_unknown_quickly():
    t0 = time.perf_counter()
    p = analyze("focal", deadline=0.05)
    assert time.perf_counter() - t0 < 5
    assert p["convex"] is None and p["convexity"]["verdict"] == "unknown"
    assert p["timed_out"]


def test_deadline_object():
    d = Deadline(0.0)
    assert d.expired()
    with pytest.raises(Timeout):
        d.check()
    assert Deadline(None).remaining() == float("inf")


def test_a_new_user_loss_is_analysed_in_under_30_s(tmp_path):
    path = tmp_path / "my_loss.toml"
    path.write_text(scaffold("my_loss", "c**2/2*log(1 + ((pred - target)/c)**2)", {"c": 2.0}))
    t0 = time.perf_counter()
    p = analyze(str(path))
    assert time.perf_counter() - t0 < 30
    assert p["name"] == "my_loss"
    assert p["convex"] is False                      # Cauchy-like: f'' < 0 for |r| > |c|
    assert p["influence_bounded"] is True
    assert p["influence_bound_value"] == pytest.approx(1.0, rel=1e-9)    # |c|/2 at c = 2
    assert p["efficiency"] is not None and 0 < p["efficiency"] < 1


def test_structured_losses_get_proofs_where_they_exist_and_unknown_elsewhere():
    from lossgen.spec import parse_spec_text
    text = """
name = "softmax_ce"
title = "Softmax cross-entropy"
summary = "s"
category = "classification"
references = []
loss = "logsumexp_over(logits, 'class') - take(logits, target)"

[[inputs]]
name = "logits"
role = "prediction"
domain = "real"
axes = ["class"]

[[inputs]]
name = "target"
role = "target"
domain = "real"
"""
    p = analyze(parse_spec_text(text, "softmax_ce.toml"))
    # convexity in the logits is proved (DCP with the reductions as atoms) ...
    assert p["convex"] is True and p["convexity"]["verdict"] == "proved"
    assert "reduction" in p["convexity"]["method"]
    # ... while the location-model properties (influence, efficiency) are not claimed
    assert p["influence_bounded"] is None and p["efficiency"] is None
