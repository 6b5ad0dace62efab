"""A small client for the Flink REST API: the one way both backends observe a job.

Plain urllib keeps it dependency-free; every call has a timeout so an unreachable
JobManager shows up as an error, never as a hang.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ..errors import TemporaryFailure


class FlinkUnreachable(TemporaryFailure):
    """The JobManager's REST endpoint did not answer."""


@dataclass(frozen=True)
class FlinkRest:
    """REST client of one Flink session cluster at ``address`` (host:port)."""

    address: str
    timeout: float = 5.0

    def _call(self, method: str, path: str) -> Any:
        req = urllib.request.Request(f"http://{self.address}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise FlinkUnreachable(f"Flink REST {method} {path}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise FlinkUnreachable(f"Flink REST at {self.address} unreachable: {e}") from None
        return json.loads(body) if body else None

    def overview(self) -> dict[str, Any]:
        """Cluster overview: taskmanagers, slots-total, slots-available, jobs-running."""
        return dict(self._call("GET", "/overview"))

    def jobs(self) -> list[dict[str, Any]]:
        """All jobs with their state (``/jobs/overview``)."""
        return list(self._call("GET", "/jobs/overview").get("jobs", []))

    def job(self, job_id: str) -> dict[str, Any]:
        """One job: ``state`` and ``vertices`` (name, parallelism, status)."""
        return dict(self._call("GET", f"/jobs/{job_id}"))

    def exceptions(self, job_id: str) -> dict[str, Any]:
        """The job's failure history (root exception first)."""
        return dict(self._call("GET", f"/jobs/{job_id}/exceptions"))

    def accumulators(self, job_id: str) -> dict[str, int]:
        """The job's user accumulators summed over its subtasks (the data plane's row counts)."""
        return accumulator_values(self._call("GET", f"/jobs/{job_id}/accumulators"))

    def cancel(self, job_id: str) -> None:
        """Cancel a job (idempotent on the Flink side)."""
        self._call("PATCH", f"/jobs/{job_id}?mode=cancel")

    def root_exception(self, job_id: str) -> str | None:
        """First line of the job's root cause, if it failed."""
        try:
            return root_exception_text(self.exceptions(job_id))
        except FlinkUnreachable:
            return None


def accumulator_values(body: Any) -> dict[str, int]:
    """name -> value of the numeric user accumulators in a ``/jobs/<id>/accumulators`` answer."""
    entries = body.get("user-task-accumulators") if isinstance(body, dict) else None
    out: dict[str, int] = {}
    for acc in entries if isinstance(entries, list) else []:
        try:
            out[str(acc["name"])] = int(acc["value"])
        except (KeyError, TypeError, ValueError):
            continue  # not one of ours (a non-numeric accumulator)
    return out


def root_exception_text(exceptions: Any) -> str | None:
    """The root cause's text from a ``/jobs/<id>/exceptions`` answer (either Flink layout)."""
    if not isinstance(exceptions, dict):
        return None
    text = exceptions.get("root-exception") or ""
    history = (exceptions.get("exceptionHistory") or {}).get("entries") or []
    if not text and history and isinstance(history[0], dict):
        text = history[0].get("stacktrace") or history[0].get("exceptionName") or ""
    return str(text).strip() or None
