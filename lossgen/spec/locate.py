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


_ESCAPE_WIDTH = {"u": 6, "U": 10}


def raw_column(line: str, value_col: int, offset: int) -> int:
    """The 1-based column in ``line`` of the decoded character ``offset`` of a string
    value starting at ``value_col`` (its first character inside the quotes).

    In a TOML basic string ("...") an escape such as \\" or \\u00e9 is several raw
    characters for one decoded character; literal strings ('...') have no escapes.
    """
    quote = line[value_col - 2] if value_col >= 2 else '"'
    i = value_col - 1
    if quote != '"':
        return value_col + offset
    for _ in range(offset):
        if i < len(line) and line[i] == "\\" and i + 1 < len(line):
            i += _ESCAPE_WIDTH.get(line[i + 1], 2)
        else:
            i += 1
    return i + 1
