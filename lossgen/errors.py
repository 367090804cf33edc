"""Errors that lossgen reports to a user, each naming what is wrong and where."""
from __future__ import annotations


class LossgenError(Exception):
    """Base class: an error meant for a person, printed without a traceback."""


class SpecError(LossgenError):
    """A spec file is malformed: names the file, the key, the line and column.

    ``line`` and ``column`` are 1-based positions in the spec file (``None`` when
    the problem is not tied to one place, e.g. a missing key).
    """

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 line: int | None = None, column: int | None = None, source_line: str | None = None):
        self.message = message
        self.file = file
        self.key = key
        self.line = line
        self.column = column
        self.source_line = source_line
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        head = f"{where}: "
        if self.key:
            head += f"key '{self.key}': "
        text = head + self.message
        if self.source_line is not None and self.column is not None:
            text += "\n    " + self.source_line.rstrip("\n") + "\n    " + " " * (self.column - 1) + "^"
        return text


class NotDifferentiableError(LossgenError, TypeError):
    """A derivative was asked of a loss the spec declares non-differentiable."""


class BuildError(LossgenError):
    """Code generation failed for a spec (the previous generated files stay intact)."""


class CudaUnavailableError(LossgenError, RuntimeError):
    """A CUDA kernel was launched where there is no usable CUDA device (or no numba.cuda)."""
