"""Wall-clock limits on calls that may run for minutes (SymPy on an unlucky expression).

:func:`limited` runs ``fn`` and interrupts it with :class:`Timeout` after ``seconds``.
In the main thread of a POSIX process this is a ``SIGALRM`` timer (the pending Python
code is interrupted at its next bytecode; nested limits keep the tighter one and give
the outer one back what it had left).  Elsewhere the call runs in a daemon thread that
is abandoned on timeout: the caller gets :class:`Timeout` on time, never a hang.

Used by the build (one spec's generation) and by the analysis (each risky step).
"""
from __future__ import annotations

import signal
import threading
import time


class Timeout(Exception):
    """A call ran out of its time limit."""


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

    worker = threading.Thread(target=run, daemon=True, name="lossgen-limited-call")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Timeout("wall-clock limit reached (step abandoned)")
    if "error" in box:
        raise box["error"]
    return box.get("value")
