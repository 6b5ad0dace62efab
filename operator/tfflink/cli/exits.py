"""How a ``tfflink`` command ends: the one place failures become lines and exit statuses.

Exit codes: 0 success, 1 the job (or submission) failed, 2 the job file is invalid, 130
interrupted. A failure is one ``tfflink: error: ...`` line (an invalid job file: one
``tfflink: invalid job: ...`` line per problem), never a traceback. Permanent and temporary
failures exit alike (1): the CLI retries nothing itself, the message says what failed.
"""

from __future__ import annotations

import sys

from ..errors import PermanentFailure
from ..spec import SpecError

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


class CliError(PermanentFailure):
    """One line for the user, and the exit status: the user changes something and runs again."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def err(msg: str) -> None:
    print(f"tfflink: error: {msg}", file=sys.stderr, flush=True)


def report(e: Exception, context: str = "") -> int:
    """Print ``e`` for the user (after ``context``, e.g. ``job NAME``); return the exit status."""
    if isinstance(e, SpecError):
        for line in str(e).splitlines():
            print(f"tfflink: invalid job: {line}", file=sys.stderr, flush=True)
        return EXIT_INVALID
    err(f"{context}: {e}" if context else str(e))
    return e.code if isinstance(e, CliError) else EXIT_FAILED
