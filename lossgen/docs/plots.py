"""The loss and its gradient side by side, for a few values of one parameter (matplotlib).

The curves are the spec's mathematics evaluated in float64 (:mod:`lossgen.verify.floats`:
the loss as written and ``sympy.diff`` of it, derivatives where they exist), along the
first differentiable input with the other inputs held at a typical value (stated in
the figure).  Output is reproducible byte for byte: Agg backend, matplotlib's default
style and bundled DejaVu fonts, PNG metadata without software version or date.
"""
from __future__ import annotations

import io
import textwrap

import numpy as np
import sympy as sp

from ..spec.model import Spec
from ..verify.floats import float_function
from ..verify.truth import spec_args
from .latex import symbol_latex

#: the parameter varied in each plot, and its values (others: the first parameter at
#: default x {1/2, 1, 2} when admissible)
PLOT_PARAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "huber": ("delta", (0.5, 1.0, 2.0)),
    "smooth_l1": ("beta", (0.5, 1.0, 2.0)),
    "pseudo_huber": ("delta", (0.5, 1.0, 2.0)),
    "focal": ("gamma", (0.0, 0.5, 1.0, 2.0, 5.0)),
    "quantile": ("tau", (0.1, 0.5, 0.9)),
    "tweedie_deviance": ("power", (1.2, 1.5, 1.8)),
    "elastic_net": ("l1_ratio", (0.0, 0.5, 1.0)),
    "dpo": ("beta", (0.1, 0.5, 1.0)),
    "ramp": ("s", (-2.0, -1.0, -0.5)),
    "gaussian_nll": ("full", (0.0, 1.0)),
    "poisson_nll": ("full", (0.0, 1.0)),
}
DPI = 72
_TYPICAL = {"real": 0.0, "positive": 1.0, "nonnegative": 1.0, "unit_interval": 1.0, "open_unit_interval": 0.5,
            "nonpositive": -1.0, "labels01": 1.0, "labels_pm1": 1.0}
_RANGE = {"positive": (0.05, 4.0), "nonnegative": (0.0, 4.0), "unit_interval": (0.0, 1.0),
          "open_unit_interval": (0.002, 0.998), "nonpositive": (-4.0, 0.0)}


def _admissible(spec: Spec, values: dict) -> bool:
    subs = {p.symbol: sp.Float(values[p.name]) for p in spec.params}
    return all(p.constraint is None or p.constraint.xreplace(subs) is sp.true for p in spec.params)


def plot_plan(spec: Spec) -> dict:
    """What the plot shows: x input and range, the fixed inputs, the varied parameter."""
    x = (spec.differentiable_inputs or (spec.prediction,))[0]
    lo, hi = _RANGE.get(x.domain.name, (-4.0, 4.0))
    fixed = {i.name: _TYPICAL.get(i.domain.name, 0.0) for i in spec.inputs if i is not x}
    defaults = {p.name: p.default for p in spec.params}
    param, values = None, ()
    if spec.name in PLOT_PARAMS:
        param, values = PLOT_PARAMS[spec.name]
    elif spec.params:
        p = spec.params[0]
        cand = (p.default / 2, p.default, p.default * 2) if p.default else (0.0, 0.5, 1.0)
        if len(set(cand)) == 3 and all(_admissible(spec, dict(defaults, **{p.name: v})) for v in cand):
            param, values = p.name, cand
    if param is not None and not all(_admissible(spec, dict(defaults, **{param: v})) for v in values):
        raise ValueError(f"{spec.name}: plot values {values} of {param} violate its constraint")
    return {"x": x.name, "range": [lo, hi], "fixed": fixed, "param": param, "values": list(values),
            "defaults": defaults}


def _fmt(v: float) -> str:
    return f"{v:g}"


def render_png(spec: Spec, plan: dict) -> bytes:
    """The figure as PNG bytes."""
    try:
        import matplotlib
    except ImportError:
        from ..errors import LossgenError
        raise LossgenError("the docs' plots need matplotlib: pip install 'lossgen[docs]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    args = spec_args(spec)
    xsym = spec.input(plan["x"]).symbol
    f = float_function(spec.loss, args)
    g = float_function(sp.diff(spec.loss, xsym), args) if spec.differentiable else None
    lo, hi = plan["range"]
    xs = np.linspace(lo, hi, 801)
    names = [a.name for a in args]
    runs = [(plan["param"], v) for v in plan["values"]] or [(None, None)]
    with matplotlib.rc_context(matplotlib.rcParamsDefault):
        matplotlib.rcParams.update({"svg.hashsalt": "lossgen", "font.size": 9})
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0), dpi=DPI)
        for name, v in runs:
            values = dict(plan["defaults"], **plan["fixed"])
            if name is not None:
                values[name] = v
            cols = [xs if n == plan["x"] else np.full_like(xs, values[n]) for n in names]
            label = f"${symbol_latex(name)} = {_fmt(v)}$" if name else None
            axes[0].plot(xs, f(*cols), lw=1.4, label=label)
            if g is not None:
                axes[1].plot(xs, g(*cols), lw=1.4, label=label)
        xl = f"${symbol_latex(plan['x'])}$"
        axes[0].set_title("loss $L$")
        if g is not None:
            axes[1].set_title(f"gradient $\\partial L / \\partial {symbol_latex(plan['x'])}$")
        else:
            axes[1].axis("off")
            axes[1].text(0.5, 0.5, "not differentiable:\nvalues only, no gradient kernel", ha="center",
                         va="center", transform=axes[1].transAxes)
        for ax in axes[:2 if g is not None else 1]:
            ax.set_xlabel(xl)
            ax.grid(True, lw=0.4, alpha=0.5)
            ax.axhline(0, color="0.6", lw=0.6)
            if runs[0][0] is not None:
                ax.legend(fontsize=7, loc="best")
        fixed = ", ".join(f"${symbol_latex(k)} = {_fmt(val)}$" for k, val in plan["fixed"].items())
        others = ", ".join(f"${symbol_latex(k)} = {_fmt(val)}$" for k, val in plan["defaults"].items()
                           if k != plan["param"])
        note = "; ".join(s for s in (fixed and "held at " + fixed, others and "defaults " + others) if s)
        title = spec.title + ("\n" + textwrap.fill(note, 120) if note else "")
        fig.suptitle(title, fontsize=8)
        # fixed margins (in points of the 576 x 216 pt figure) rather than a layout
        # engine, which measures every text twice: the titles' lines above, tick labels
        # and the x label below and to the left
        top = (title.count("\n") + 1) * 11.0 + 20.0
        fig.subplots_adjust(left=40.0 / 576, right=1 - 8.0 / 576, bottom=38.0 / 216, top=1 - top / 216,
                            wspace=0.17)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        plt.close(fig)
    return buf.getvalue()
