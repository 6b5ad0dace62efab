"""Things a test opened, closed once it ends (by the autouse fixture in tests/conftest.py)."""

from __future__ import annotations

from typing import Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)
_TO_CLOSE: list[_Closable] = []


def close_after_test(thing: C) -> C:
    """``thing`` is closed once the current test ends (tests/conftest.py): an open socket or
    server left to the garbage collector is a ResourceWarning, and warnings are errors."""
    _TO_CLOSE.append(thing)
    return thing


def close_registered() -> None:
    while _TO_CLOSE:
        _TO_CLOSE.pop().close()
