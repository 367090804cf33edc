"""Text for people: the properties block of ``lossgen show``/``analyze`` and the catalog table."""
from __future__ import annotations


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "-"
    if v == "oo":
        return "oo"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _verdict(v: str | None) -> str:
    return {"proved": "yes", "disproved": "no"}.get(v, "unknown")


def text(p: dict) -> str:
    """A readable block of every property in ``p`` (the dict of :func:`analyze`)."""
    c = p.get("convexity") or {}
    lines = [f"Properties ({p.get('scope', '')})"]
    lines.append(f"  convex:          {_verdict(c.get('verdict'))} — {c.get('method')}"
                 + (f": {c.get('evidence')}" if c.get("evidence") else ""))
    inputs = c.get("inputs") or {}
    if len(inputs) > 1:
        for name, v in inputs.items():
            lines.append(f"    in {name}: {_verdict(v['verdict'])} — {v['method']}")
    w = c.get("witness")
    if w:
        pt = ", ".join(f"{k}={_num(v, 6)}" for k, v in w["point"].items())
        lines.append(f"    witness: {w['kind']} = {w['value']} at {pt}")
    diff = p.get("differentiable")
    lines.append(f"  differentiable:  {'-' if diff is None else ('yes' if diff else 'no')}; "
                 f"continuity {p.get('continuity') or '-'}")
    for k in p.get("kinks") or []:
        what = "the loss jumps by" if k.get("discontinuous") else "f' jumps by"
        lines.append(f"    kink at {k['at']}" + (f" ({k['case']})" if k.get("case") else "") + f": {what} {k['jump']}")
    for b in p.get("breakpoints") or []:
        lines.append(f"    breakpoint at {b['at']}: derivative {b['order']} jumps by {_num(b['jump_value'], 6)}")
    if p.get("influence_method"):
        kind = p.get("influence_kind") or "-"
        lines.append(f"  influence:       sup|psi| = {p.get('influence_bound') or '-'}"
                     f" (= {_num(p.get('influence_bound_value'), 6)}), {kind}, over {p.get('influence_variable')}")
        lines.append(f"    method: {p.get('influence_method')}")
        lines.append(f"  Lipschitz:       {p.get('lipschitz') or '-'};  "
                     f"smoothness sup|L''| = {p.get('smoothness') or '-'}")
    if p.get("efficiency") is not None:
        lines.append(f"  efficiency:      {_num(p['efficiency'], 6)} at N(0,1); "
                     f"gross-error sensitivity {_num(p.get('gross_error_sensitivity'), 6)}")
    elif p.get("efficiency_note"):
        lines.append(f"  efficiency:      - ({p['efficiency_note']})")
    t = p.get("tuning")
    if t:
        if "error" in t:
            lines.append(f"  tuning:          {t['error']}")
        else:
            lines.append(f"  tuning:          {t['param']} = {t['value']:.6g} gives efficiency {t['efficiency']:.6g}"
                         f" (gross-error sensitivity {_num(t.get('gross_error_sensitivity'), 6)})")
    if p.get("timed_out"):
        lines.append(f"  timed out:       {', '.join(p['timed_out'])} (answered unknown)")
    lines.append(f"  analysed in {p.get('seconds', 0):.1f} s")
    return "\n".join(lines)


TABLE_HEADER = ["name", "convex", "method", "differentiable", "continuity", "influence bound", "efficiency",
                "seconds"]


def table_row(p: dict) -> list[str]:
    c = p.get("convexity") or {}
    diff = p.get("differentiable")
    bound = p.get("influence_bound") or "-"
    if bound not in ("-", "oo") and (p.get("influence_method") or "").startswith("numeric"):
        bound = f"~{_num(p.get('influence_bound_value'), 4)} (numeric)"
    if p.get("redescending"):
        bound += " (redescending)"
    return [p["name"], _verdict(c.get("verdict")), c.get("method") or "-",
            "-" if diff is None else ("yes" if diff else "no"), p.get("continuity") or "-", bound,
            _num(p.get("efficiency"), 4), f"{p.get('seconds', 0):.1f}"]
