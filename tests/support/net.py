"""Loopback networking for tests: a free port, a plain GET."""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """Status and body of a plain GET, the connection closed again (a test must not leak it)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return int(r.status), bytes(r.read())
