"""Find where a key sits in a TOML file, for error messages (tomllib gives no positions)."""
from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-]+)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=\s*")


def locate(text: str, table: str | None, index: int | None, key: str | None) -> tuple[int | None, int | None, str | None]:
    """Return (line, column of the value, the line's text), 1-based, or Nones.

    ``table`` is ``None`` for top-level keys; ``index`` picks the n-th ``[[table]]``.
    The column points at the first character inside a quoted value.
    """
    current, count = None, -1
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        header = _HEADER.match(line)
        if header:
            name = header.group(2)
            if name == table:
                count += 1
            current = name
            if key is None and name == table and (index is None or index == count):
                return lineno, 1, line
            continue
        if current != table or (index is not None and count != index):
            continue
        m = _KEY.match(line)
        if m and m.group(1) == key:
            col = m.end() + 1
            if line[m.end():].startswith(('"""', "'''")):
                return lineno, col, line  # multi-line string: point at its opening quotes
            if line[m.end():m.end() + 1] in "\"'":
                col += 1
            return lineno, col, line
    return None, None, None
