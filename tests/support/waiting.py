"""``wait_for``: the one polling loop of the suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    fn: Callable[[], T],
    what: str | Callable[[], str],
    timeout: float = 60,
    interval: float = 0.5,
    check: Callable[[], Any] | None = None,
) -> T:
    """Call ``fn`` until it returns something truthy and return that; after ``timeout`` seconds
    fail with ``what`` (a callable is asked only then) and the last value. ``fn`` runs at least
    once; ``check`` runs before each try (e.g. raise if the cluster under test died)."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            text = what() if callable(what) else what
            raise AssertionError(f"timed out ({timeout:.0f}s) waiting for {text}; last: {last!r}")
        time.sleep(interval)
