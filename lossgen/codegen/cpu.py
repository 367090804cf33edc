"""Render a lowered spec into a generated CPU module (Numba).

The module layout (template ``templates/cpu_module.py.j2``):

* a header with the spec's path and SHA-256 and the generator's version and hash;
* a docstring stating the loss, its gradients and Hessians, and how each form the
  kernels compute was chosen (the lowering report, with measured errors);
* metadata (``NAME``, ``INPUTS``, ``PARAMS``, ...) and ``check_params``;
* point functions (one element; the mathematics), and for those with guarded sums a
  plain twin (``point_*_plain``: plain sums and a flag where a guard failed) and a fix
  twin (``point_*_fix``: the exact values by selects, no branch);
* array kernels (``parallel=True`` loops over elements, or over blocks of elements where
  there are guarded sums) that call them:
  ``loss_none``, ``loss_sum``, ``grad``, ``loss_grad_none``, ``loss_grad_sum``, ``hess``,
  ``grad_hess`` and, for several differentiable inputs, ``hess_full``.

Kernel calling convention: ``kernel(*inputs, _weight, *params, [_scale,] *outputs)``.
Kernel-internal names start with ``_``, which no spec identifier can, so a spec's
names never clash with them.  Inputs are 1-d arrays of one length n; ``_weight`` has
length n or 0 (no weights); ``_scale`` multiplies every derivative (1 for sum/none,
1/n for mean); sums accumulate in float64 and are returned.
"""
from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jinja2
import sympy as sp

from .._version import __version__
from ..rewrite import Lowered
from ..spec.model import Spec
from .point import PointFunction
from .point import point_function as _point_function
from .printer import print_expr

TEMPLATES = Path(__file__).parent / "templates"
#: Point functions (and double-double helpers) of at most this many lines are compiled
#: with ``forceinline=True``, so that a kernel's loop over them has no call and
#: vectorizes; larger ones (focal's Hessian) stay calls, which compile far faster.
INLINE_LIMIT = 80
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), keep_trailing_newline=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


@dataclass(frozen=True)
class Kernel:
    """One array kernel: which point function it calls and where each result goes.

    ``outputs`` pairs each returned value with an output array name, or with ``None``
    for the loss accumulated into a float64 sum.  ``kinds`` says how each value is
    scaled: "loss" by the weight, "deriv" by weight * scale.  ``plain`` names the point
    function's plain twin where it has guarded sums: the kernel then runs two passes,
    the plain twin over every element (a loop without calls, which vectorizes), then
    the exact point function over the elements whose guard failed.
    """

    name: str
    doc: str
    point: str
    outputs: tuple[str | None, ...]
    kinds: tuple[str, ...]
    reduce: bool
    scaled: bool
    plain: str | None = None
    fix: str | None = None
    float32: bool = False   # the point function takes _float32 (a guard wider for float32)

    def call(self, inputs: tuple[str, ...], params: tuple[str, ...]) -> str:
        """The point function's call on element ``_i`` of the inputs (the CUDA kernels)."""
        return self._call(self.point, [f"float64({a}[_i])" for a in inputs] + list(params), False)

    def block_call(self, inputs: tuple[str, ...], params: tuple[str, ...], plain: bool = False) -> str:
        """The point function's (or its plain twin's) call on element ``_k`` of the
        block's views ``_b_<input>`` (the CPU kernels)."""
        return self._call(self.plain if plain else self.point,
                          [f"float64(_b_{a}[_k])" for a in inputs] + list(params), plain)

    def _call(self, fn: str, args: list[str], plain: bool) -> str:
        # float64(...): the mathematics runs in float64 whatever the array dtype; a float32
        # result is rounded once, on the store.
        targets = ", ".join(f"_v{k}" for k in range(len(self.outputs))) + (", _f" if plain else "")
        args = args + (["_float32"] if self.float32 else [])
        return f"{targets} = {fn}({', '.join(args)})"

    def fix_call(self, inputs: tuple[str, ...], params: tuple[str, ...]) -> str:
        """The fix twin's call on the ``_j``-th gathered element ``_g_<input>[_j]``."""
        return self._call(self.fix, [f"_g_{a}[_j]" for a in inputs] + list(params), False)

    def signature(self, inputs: tuple[str, ...], params: tuple[str, ...]) -> str:
        outs = tuple(o for o in self.outputs if o is not None)
        return ", ".join(inputs + ("_weight",) + params + (("_scale",) if self.scaled else ()) + outs)


def _pretty(expr: sp.Basic) -> str:
    return textwrap.fill(sp.sstr(expr), 88, subsequent_indent="        ", break_long_words=False,
                         break_on_hyphens=False)


def _fmt_ulp(x: float) -> str:
    return f"{x:.1f}" if x < 1e4 else f"{x:.1e}"


def _point_exprs(lowered: Lowered, dnames: tuple[str, ...]) -> dict[str, tuple[str, list[sp.Expr]]]:
    """Each point function's name -> (docstring, the expressions it returns)."""
    out = {"point_loss": ("The loss of one element.", [lowered.loss.expr])}
    if not (lowered.grad and dnames):
        return out
    g = [c.expr for c in lowered.grad]
    hd = [c.expr for c in lowered.hess_diag()]
    out.update(
        point_grad=("Gradient of the loss in " + ", ".join(dnames) + ".", g),
        point_loss_grad=("Loss and gradient in one call (the compiler merges their common work).",
                         [lowered.loss.expr] + g),
        point_hess=("Diagonal of the Hessian (d2 loss / d input2).", hd),
        point_grad_hess=("Gradient and diagonal Hessian in one call (the compiler merges their common work).",
                         g + hd),
    )
    if len(dnames) > 1:
        out["point_hess_full"] = ("Upper triangle of the Hessian, row by row.",
                                  [lowered.hess[a][b].expr for a in range(len(dnames))
                                   for b in range(a, len(dnames))])
    return out


def _kernels(lowered: Lowered, args: tuple[str, ...], dnames: tuple[str, ...], helpers: dict,
             params: tuple[str, ...] = ()):
    """Point functions, the plain twins of those with guarded sums, and the kernels that
    call them; the double-double helpers of guarded compensated forms are collected in
    ``helpers``."""
    exprs = _point_exprs(lowered, dnames)
    points = [_point_function(name, doc, args, es, helpers=helpers, invariants=params)
              for name, (doc, es) in exprs.items()]
    twins = [_point_function(p.name + "_plain", exprs[p.name][0].rstrip(".") + ": plain sums, and whether a "
                             "guard failed.", args, exprs[p.name][1], variant="plain", invariants=params)
             for p in points if p.guarded]
    twins += [_point_function(p.name + "_fix", exprs[p.name][0].rstrip(".") + ": as exactly, by selects (no "
                              "branch).", args, exprs[p.name][1], helpers=helpers, variant="fix", invariants=params)
              for p in points if p.guarded]
    kernels = [
        Kernel("loss_none", "Elementwise loss (times weight) into _out_loss.", "point_loss", ("_out_loss",),
               ("loss",), False, False),
        Kernel("loss_sum", "Sum of weighted elementwise losses, accumulated in float64.", "point_loss", (None,),
               ("loss",), True, False),
    ]
    if "point_grad" in exprs:
        gouts = tuple(f"_out_grad_{n}" for n in dnames)
        houts = tuple(f"_out_hess_{n}" for n in dnames)
        kernels += [
            Kernel("grad", "Weighted, scaled gradient into _out_grad_*.", "point_grad", gouts,
                   ("deriv",) * len(gouts), False, True),
            Kernel("loss_grad_none", "Fused: elementwise loss and gradient in one pass.", "point_loss_grad",
                   ("_out_loss",) + gouts, ("loss",) + ("deriv",) * len(gouts), False, True),
            Kernel("loss_grad_sum", "Fused: summed loss (returned) and gradient in one pass.", "point_loss_grad",
                   (None,) + gouts, ("loss",) + ("deriv",) * len(gouts), True, True),
            Kernel("hess", "Weighted, scaled diagonal Hessian into _out_hess_*.", "point_hess", houts,
                   ("deriv",) * len(houts), False, True),
            Kernel("grad_hess", "Fused: gradient and diagonal Hessian in one pass.", "point_grad_hess",
                   gouts + houts, ("deriv",) * (2 * len(houts)), False, True),
        ]
    if "point_hess_full" in exprs:
        pairs = [(a, b) for a in range(len(dnames)) for b in range(a, len(dnames))]
        fouts = tuple(f"_out_hess_{dnames[a]}_{dnames[b]}" for a, b in pairs)
        kernels.append(Kernel("hess_full", "Upper triangle of the full Hessian (cross terms included).",
                              "point_hess_full", fouts, ("deriv",) * len(fouts), False, True))
    guarded = {p.name for p in points if p.guarded}
    float32 = {p.name for p in points if p.float32}
    kernels = [dataclasses.replace(k, plain=k.point + "_plain", fix=k.point + "_fix") if k.point in guarded else k
               for k in kernels]
    kernels = [dataclasses.replace(k, float32=True) if k.point in float32 else k for k in kernels]
    return points, twins, kernels


def build_context(spec: Spec, lowered: Lowered, generator_sha256: str, source_label: str) -> dict:
    ins = tuple(i.name for i in spec.inputs)
    pars = tuple(p.name for p in spec.params)
    dnames = tuple(i.name for i in spec.differentiable_inputs)
    helpers: dict = {}
    points, plains, kernels = _kernels(lowered, ins + pars, dnames, helpers, pars)
    runtime_imports = sorted(set().union(*(p.runtime_calls for p in points + plains + list(helpers.values()))))

    checks = [(print_expr(p.constraint), p.constraint_text, p.name) for p in spec.params if p.constraint is not None]
    doc_derivs = []
    lowering = [("loss", lowered.loss)]
    for v, choice in zip(dnames, lowered.grad):
        doc_derivs.append((f"d loss / d {v}", _pretty(choice.expr)))
        lowering.append((f"d/d{v}", choice))
    for a, va in enumerate(dnames):
        for b in range(a, len(dnames)):
            doc_derivs.append((f"d2 loss / d {va} d {dnames[b]}", _pretty(lowered.hess[a][b].expr)))
            lowering.append((f"d2/d{va}d{dnames[b]}", lowered.hess[a][b]))
    return {
        "version": __version__,
        "generator_sha256": generator_sha256,
        "source": source_label,
        "spec": spec,
        "loss_pretty": _pretty(spec.loss),
        "doc_derivs": doc_derivs,
        "lowering": [(label, c.how, _fmt_ulp(c.max_ulp), _fmt_ulp(c.max_rel_ulp), c.candidates)
                     for label, c in lowering],
        "inputs": ins,
        "params": pars,
        "dnames": dnames,
        "points": points,
        "helpers": list(helpers.values()),
        "plains": plains,
        "inline_limit": INLINE_LIMIT,
        "kernels": kernels,
        "runtime_imports": runtime_imports,
        "checks": checks,
        "pyrepr": repr,
    }


def render_cpu_module(spec: Spec, lowered: Lowered, generator_sha256: str, source_label: str) -> str:
    """The text of the generated CPU module for ``spec``."""
    ctx = build_context(spec, lowered, generator_sha256, source_label)
    return _ENV.get_template("cpu_module.py.j2").render(**ctx)
