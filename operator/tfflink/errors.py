"""The one base of tfflink's exceptions, and what each means for a retry.

Every tfflink exception derives from :class:`PermanentFailure` or :class:`TemporaryFailure`,
so whoever catches one decides a retry from ``retryable`` alone: ``True`` means trying the same
thing again may succeed (an unreachable service, a busy AM, a lost node), ``False`` that it
fails the same way until someone changes the input (a bad spec or data, a refused request,
user code that gave up). The names differ from kopf's ``PermanentError``/``TemporaryError`` on
purpose: the operator maps these onto its own handling (see ``tfflink.operator.reconciler``).

A failure inside the Flink job reaches the supervisors only as text; how a permanent one stays
recognisable there is :mod:`tfflink.lifecycle.errors`. This module is the lowest layer: it
imports nothing of tfflink, so every layer can use it.
"""

from __future__ import annotations

from typing import ClassVar


class TfflinkError(Exception):
    """Base of every tfflink exception; subclass one of the two below, not this."""

    retryable: ClassVar[bool]
    """Whether trying the same thing again may succeed."""


class PermanentFailure(TfflinkError):
    """Bad spec, bad data, user code that raised, a refused request: retries cannot fix it."""

    retryable = False


class TemporaryFailure(TfflinkError):
    """An unreachable service, a busy AM, a lost node: a retry or a restart may fix it."""

    retryable = True
