"""Time budgets: a deadline checked between steps, and a wall-clock limit on risky calls.

SymPy's ``simplify``, ``solve`` and ``limit`` can run for minutes on an unlucky
expression.  The analysis therefore

* carries a :class:`Deadline` (the whole analysis of one loss) and checks it between
  steps (:meth:`Deadline.check` raises :class:`Timeout`), and
* runs every risky call through :func:`lossgen.timelimit.limited`, which interrupts it
  after a number of seconds (a ``SIGALRM`` timer in the main thread, an abandoned
  daemon thread elsewhere): the caller gets :class:`Timeout` on time, never a hang.

A step that times out answers "unknown"; it never guesses.
"""
from __future__ import annotations

import time

from ..timelimit import Timeout, limited

__all__ = ["Deadline", "Timeout", "attempt", "limited"]


class Deadline:
    """The end of the time allowed for one analysis (``seconds`` from now)."""

    def __init__(self, seconds: float | None):
        self.start = time.monotonic()
        self.seconds = float("inf") if seconds is None else float(seconds)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        if self.expired():
            raise Timeout("analysis deadline reached")

    def slice(self, seconds: float) -> float:
        """At most ``seconds``, and never past the deadline."""
        return max(0.0, min(seconds, self.remaining()))


def attempt(fn, seconds: float, *args, default=None, **kwargs):
    """:func:`limited`, but a timeout or a SymPy failure gives ``default``."""
    try:
        return limited(fn, seconds, *args, **kwargs)
    except Timeout:
        return default
    except (NotImplementedError, ValueError, TypeError, ZeroDivisionError, AttributeError,
            RecursionError, OverflowError, ArithmeticError, KeyError, IndexError):
        return default
