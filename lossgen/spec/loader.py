"""Read a TOML spec file into a :class:`~lossgen.spec.model.Spec`.

Every problem becomes a :class:`~lossgen.errors.SpecError` naming the file, the key,
the line and the column.  The file format is documented in ``docs/spec-format.md``.
"""
from __future__ import annotations

import hashlib
import keyword
import math
import re
import tomllib
from pathlib import Path

import sympy as sp

from ..errors import SpecError
from .expression import CONSTANTS, FUNCTIONS, ExpressionError, parse_expression
from .locate import locate, raw_column
from .model import CATEGORIES, DOMAINS, REDUCTIONS, ROLES, Input, Param, Spec

#: Top-level names of a generated module, which a spec's identifiers must not shadow.
RESERVED = {"math", "numba", "prange", "heaviside", "check_params", "loss_none", "loss_sum", "grad", "hess",
            "loss_grad_none", "loss_grad_sum", "grad_hess", "hess_full", "NAME", "TITLE", "SPEC_SHA256",
            "GENERATOR_SHA256", "INPUTS", "PARAMS", "DIFFERENTIABLE", "DEFAULT_REDUCTION", "None"}
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
TOP_KEYS = {"name", "title", "summary", "category", "references", "loss", "numeric", "differentiable",
            "default_reduction", "torch", "notes", "inputs", "params", "expressions", "mean_weight"}
INPUT_KEYS = {"name", "role", "domain", "differentiable", "axes", "description"}
PARAM_KEYS = {"name", "default", "constraint", "description"}


class _Context:
    """Builds SpecErrors that carry the file name and the position of a key."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text

    def error(self, message: str, key: str, table: str | None = None, index: int | None = None,
              offset: int = 0, key_label: str | None = None) -> SpecError:
        line, col, src = locate(self.text, table, index, key)
        if col is not None and src is not None:
            col = raw_column(src, col, offset)
        label = key_label or (f"{table}[{index}].{key}" if table and index is not None
                              else f"{table}.{key}" if table else key)
        return SpecError(message, file=self.path, key=label, line=line, column=col, source_line=src)


def load_spec(path: str | Path) -> Spec:
    """Parse the spec file at ``path``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec file: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from None
    return parse_spec_text(text, str(path), hashlib.sha256(raw).hexdigest())


def parse_spec_text(text: str, path: str = "<spec>", sha256: str | None = None) -> Spec:
    ctx = _Context(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (None, None)
        msg = re.sub(r"\s*\(at line.*\)", "", str(exc)) or "invalid TOML"
        src = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else None
        raise SpecError(f"invalid TOML: {msg}", file=path, line=line, column=col, source_line=src) from None
    sha256 = sha256 or hashlib.sha256(text.encode()).hexdigest()

    for key in data:
        if key not in TOP_KEYS:
            raise ctx.error(f"unknown key (expected one of: {', '.join(sorted(TOP_KEYS))})", key)

    name = _required_str(ctx, data, "name")
    if not _NAME.match(name):
        raise ctx.error(f"'{name}' is not a valid loss name (lowercase letters, digits, _; starts with a letter)", "name")
    title = _optional_str(ctx, data, "title", name.replace("_", " "))
    summary = _optional_str(ctx, data, "summary", "")
    category = _required_str(ctx, data, "category")
    if category not in CATEGORIES:
        raise ctx.error(f"unknown category '{category}' (expected one of: {', '.join(CATEGORIES)})", "category")
    references = data.get("references", [])
    if not (isinstance(references, list) and all(isinstance(r, str) for r in references)):
        raise ctx.error("expected a list of strings", "references")
    default_reduction = _optional_str(ctx, data, "default_reduction", "mean")
    if default_reduction not in REDUCTIONS:
        raise ctx.error(f"expected one of {', '.join(REDUCTIONS)}", "default_reduction")
    differentiable = data.get("differentiable", True)
    if not isinstance(differentiable, bool):
        raise ctx.error("expected true or false", "differentiable")
    torch_name = data.get("torch")
    if torch_name is not None and not isinstance(torch_name, str):
        raise ctx.error("expected the name of a torch.nn.functional function", "torch")

    names: dict[str, sp.Basic] = {}
    inputs = _inputs(ctx, data, names)
    axes = frozenset(a for i in inputs for a in i.axes) | {"set"}
    params = _params(ctx, data, names, axes)

    subexpressions = []
    full_subs: dict[sp.Symbol, sp.Expr] = {}
    exprs = data.get("expressions", {})
    if not isinstance(exprs, dict):
        raise ctx.error("expected a table of named expressions", "expressions")
    for ename, etext in exprs.items():
        _check_identifier(ctx, ename, names, key=ename, table="expressions", index=None)
        body = _parse(ctx, etext, names, axes, key=ename, table="expressions")
        sym = sp.Symbol(ename, real=True)
        subexpressions.append((sym, body))
        full_subs[sym] = body.xreplace(full_subs)
        names[ename] = sym

    loss_text = _required_str(ctx, data, "loss")
    loss_body = _parse(ctx, loss_text, names, axes, key="loss")
    loss = loss_body.xreplace(full_subs)
    loss = loss.xreplace(full_subs)  # subexpressions referring to earlier ones
    if not isinstance(loss, sp.Expr):  # (a Symbol is also a Boolean: test Expr, not Boolean)
        raise ctx.error("the loss must be a real-valued expression, not a condition", "loss")
    free = loss.free_symbols - {i.symbol for i in inputs} - {p.symbol for p in params}
    free = {s for s in free if not s.name.startswith("axis_")}
    if free:
        raise ctx.error(f"loss depends on undeclared symbols: {', '.join(sorted(map(str, free)))}", "loss")

    spec = Spec(
        name=name, title=title, summary=summary, category=category, references=tuple(references),
        inputs=inputs, params=params, subexpressions=tuple(subexpressions), loss_body=loss_body,
        loss=loss, loss_text=loss_text, differentiable=differentiable,
        default_reduction=default_reduction, torch=torch_name, source_path=path, source_sha256=sha256,
        notes=_optional_str(ctx, data, "notes", ""),
    )
    if "numeric" in data:
        numeric_text = _required_str(ctx, data, "numeric")
        numeric = _parse(ctx, numeric_text, names, axes, key="numeric").xreplace(full_subs).xreplace(full_subs)
        spec.extra["numeric"] = numeric
        spec.extra["numeric_text"] = numeric_text
    if "mean_weight" in data:  # structured losses: a row's share of the divisor of reduction="mean"
        mw_text = _required_str(ctx, data, "mean_weight")
        spec.extra["mean_weight"] = _parse(ctx, mw_text, names, axes, key="mean_weight").xreplace(full_subs)
    if differentiable and not spec.differentiable_inputs:
        raise ctx.error("a differentiable loss needs at least one input with differentiable = true",
                        "inputs", key_label="inputs")
    return spec


def _required_str(ctx, data, key):
    if key not in data:
        raise SpecError(f"missing required key '{key}'", file=ctx.path, key=key)
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(f"expected a non-empty string, got {type(value).__name__}", key)
    return value


def _optional_str(ctx, data, key, default):
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ctx.error(f"expected a string, got {type(value).__name__}", key)
    return value


def _check_identifier(ctx, ident, names, *, key, table, index):
    if not isinstance(ident, str) or not _IDENT.match(ident) or keyword.iskeyword(ident):
        raise ctx.error(f"'{ident}' is not a valid identifier", key, table, index)
    if ident in RESERVED or ident.startswith("point_"):
        raise ctx.error(f"'{ident}' is reserved (a name used by generated modules)", key, table, index)
    if ident in FUNCTIONS or ident in CONSTANTS:
        raise ctx.error(f"'{ident}' is the name of a built-in function or constant", key, table, index)
    if ident in names:
        raise ctx.error(f"'{ident}' is declared twice", key, table, index)


_LOADING: list[str] = []   # catalog specs being loaded for a composition (a call cycle is refused)


def catalog_loss(name: str):
    """The parsed catalog spec ``name`` (specs/NAME.toml or specs/structured/NAME.toml), for a
    spec that calls it by name; None if there is none."""
    from ..paths import specs_dir
    for path in (specs_dir() / f"{name}.toml", specs_dir() / "structured" / f"{name}.toml"):
        if path.is_file():
            if name in _LOADING:
                raise ExpressionError(f"catalog loss '{name}' calls itself (through {' -> '.join(_LOADING)})")
            _LOADING.append(name)
            try:
                return load_spec(path)
            finally:
                _LOADING.pop()
    return None


def _parse(ctx, text, names, axes, *, key, table=None, index=None):
    if not isinstance(text, str):
        raise ctx.error(f"expected an expression string, got {type(text).__name__}", key, table, index)
    try:
        return parse_expression(text, names, axes, losses=catalog_loss)
    except ExpressionError as exc:
        raise ctx.error(exc.message, key, table, index, offset=exc.offset) from None


def _table_list(ctx, data, key):
    value = data.get(key, [])
    if not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
        raise ctx.error(f"expected an array of tables [[{key}]]", key)
    return value


def _table_entry_name(ctx, entry, allowed, table, k, names):
    """Check an [[inputs]]/[[params]] entry's keys and return its (new, valid) name."""
    for key in entry:
        if key not in allowed:
            raise ctx.error(f"unknown key (expected one of: {', '.join(sorted(allowed))})", key, table, k)
    if "name" not in entry:
        raise ctx.error("missing required key 'name'", None, table, k, key_label=f"{table}[{k}].name")
    _check_identifier(ctx, entry["name"], names, key="name", table=table, index=k)
    return entry["name"]


def _inputs(ctx, data, names):
    entries = _table_list(ctx, data, "inputs")
    if "inputs" not in data or not entries:
        raise SpecError("missing required key 'inputs' (at least one [[inputs]] table)", file=ctx.path, key="inputs")
    inputs = []
    for k, entry in enumerate(entries):
        iname = _table_entry_name(ctx, entry, INPUT_KEYS, "inputs", k, names)
        role = entry.get("role", "prediction" if k == 0 else "target")
        if role not in ROLES:
            raise ctx.error(f"unknown role '{role}' (expected one of: {', '.join(ROLES)})", "role", "inputs", k)
        dname = entry.get("domain", "real")
        if dname not in DOMAINS:
            raise ctx.error(f"unknown domain '{dname}' (expected one of: {', '.join(DOMAINS)})", "domain", "inputs", k)
        diff = entry.get("differentiable", role == "prediction")
        if not isinstance(diff, bool):
            raise ctx.error("expected true or false", "differentiable", "inputs", k)
        if diff and DOMAINS[dname].values is not None:
            raise ctx.error(f"an input with discrete domain '{dname}' cannot be differentiable",
                            "differentiable", "inputs", k)
        axes = entry.get("axes", [])
        if not (isinstance(axes, list) and all(isinstance(a, str) and _IDENT.match(a) for a in axes)):
            raise ctx.error("expected a list of axis names", "axes", "inputs", k)
        if "set" in axes:
            raise ctx.error("'set' is the reserved name of the whole-batch axis", "axes", "inputs", k)
        domain = DOMAINS[dname]
        sym = sp.Symbol(iname, **domain.assumptions())
        names[iname] = sym
        inputs.append(Input(iname, role, domain, diff, sym, tuple(axes), entry.get("description", "")))
    return tuple(inputs)


def _params(ctx, data, names, axes):
    params = []
    entries = _table_list(ctx, data, "params")
    pending = []
    for k, entry in enumerate(entries):
        pname = _table_entry_name(ctx, entry, PARAM_KEYS, "params", k, names)
        if "default" not in entry:
            raise ctx.error("missing required key 'default'", "name", "params", k, key_label=f"params[{k}].default")
        default = entry["default"]
        if isinstance(default, bool) or not isinstance(default, (int, float)) or not math.isfinite(default):
            raise ctx.error("expected a finite number", "default", "params", k)
        sym = sp.Symbol(pname, real=True)
        names[pname] = sym
        pending.append((k, entry, pname, float(default), sym))
    param_names = {p[2]: p[4] for p in pending}
    for k, entry, pname, default, sym in pending:
        ctext = entry.get("constraint", "")
        constraint = None
        if ctext:
            constraint = _parse(ctx, ctext, param_names, axes, key="constraint", table="params", index=k)
            if not isinstance(constraint, sp.logic.boolalg.Boolean):
                raise ctx.error("a constraint must be a condition such as 'delta > 0'", "constraint", "params", k)
            defaults = {p[4]: sp.Float(p[3]) for p in pending}
            holds = constraint.xreplace(defaults)
            if holds is not sp.true:
                raise ctx.error(f"default {pname} = {default!r} violates the constraint {ctext}", "default", "params", k)
        params.append(Param(pname, default, sym, constraint, ctext, entry.get("description", "")))
    return tuple(params)
