"""Time budgets: a deadline checked between steps, and a wall-clock limit on risky calls.

SymPy's ``simplify``, ``solve`` and ``limit`` can run for minutes on an unlucky
expression.  The analysis therefore

* carries a :class:`Deadline` (the whole analysis of one loss) and checks it between
  steps (:meth:`Deadline.check` raises :class:`Timeout`), and
* runs every risky call through :func:`limited`, which interrupts it after a number of
  seconds.  In the main thread of a POSIX process this is a ``SIGALRM`` timer (the
  pending Python code is interrupted at its next bytecode; nested limits keep the
  tighter one).  Elsewhere the call runs in a daemon thread that is abandoned on
  timeout: the caller gets :class:`Timeout` on time, never a hang.

A step that times out answers "unknown"; it never guesses.
"""
from __future__ import annotations

import signal
import threading
import time


class Timeout(Exception):
    """A step ran out of its time budget."""


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


def _on_alarm(signum, frame):
    raise Timeout("wall-clock limit reached")


def _can_use_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def limited(fn, seconds: float, *args, **kwargs):
    """``fn(*args, **kwargs)``, interrupted with :class:`Timeout` after ``seconds``."""
    if seconds <= 0:
        raise Timeout("no time left")
    if _can_use_alarm():
        return _limited_alarm(fn, seconds, args, kwargs)
    return _limited_thread(fn, seconds, args, kwargs)


def _limited_alarm(fn, seconds, args, kwargs):
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    use = seconds if outer_left <= 0 else min(seconds, outer_left)
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, use)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if outer_left > 0:
            # give the enclosing limit back what it had left (fire at once if spent)
            left = outer_left - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-4))


def _limited_thread(fn, seconds, args, kwargs):
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True, name="lossgen-analysis-step")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Timeout("wall-clock limit reached (step abandoned)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def attempt(fn, seconds: float, *args, default=None, **kwargs):
    """:func:`limited`, but a timeout or a SymPy failure gives ``default``."""
    try:
        return limited(fn, seconds, *args, **kwargs)
    except Timeout:
        return default
    except (NotImplementedError, ValueError, TypeError, ZeroDivisionError, AttributeError,
            RecursionError, OverflowError, ArithmeticError, KeyError, IndexError):
        return default
