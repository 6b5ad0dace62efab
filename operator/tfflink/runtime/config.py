"""What every runtime piece (AM, node agent, TF child) needs to know about one submission.

It travels inside the Flink job (pickled with the operators), so the TaskManagers need no
access to the job file. It carries the submission's secret ``token``: every call to the AM
but ``/status`` must present it, so only the AM, its node agents and the client that
submitted can drive the job (see the README's Security section).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from ..spec import LoadedJob, TFFlinkJob, TFFlinkJobSpec, parse_job
from ..spec.loader import resolve_path


def new_token() -> str:
    """A fresh per-submission secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class RuntimeConfig:
    """One submission of a job: the spec, where its code is, and how nodes find the AM."""

    job: dict[str, Any]
    rendezvous: str
    submission: str
    entry_path: str | None = None  # absolute .py path; None for a module entry
    restarts_done: int = 0  # restarts already spent by earlier submissions of this run
    extra_env: dict[str, str] = field(default_factory=dict)
    base_dir: str | None = None  # the job file's directory: relative input/output paths
    token: str = field(default_factory=new_token, repr=False)  # the AM's secret (never logged)

    @classmethod
    def from_loaded(
        cls,
        loaded: LoadedJob,
        *,
        rendezvous: str,
        submission: str,
        restarts_done: int = 0,
        token: str | None = None,
    ) -> RuntimeConfig:
        """One submission of ``loaded``; a fresh random ``token`` unless one is given."""
        entry = loaded.entry_file()
        return cls(
            job=loaded.job.model_dump(mode="json", by_alias=True, exclude_none=True),
            rendezvous=rendezvous,
            submission=submission,
            entry_path=str(entry) if entry else None,
            restarts_done=restarts_done,
            base_dir=str(loaded.base_dir),
            token=token or new_token(),
        )

    def resolve(self, path: str) -> str:
        """``path`` made absolute against the job file's directory; URIs (gs://, s3://) untouched."""
        return resolve_path(self.base_dir, path)

    @cached_property
    def resource(self) -> TFFlinkJob:
        """``job`` parsed, once per process (every runtime piece reads ``spec`` often)."""
        return parse_job(self.job)

    def __getstate__(self) -> dict[str, Any]:
        """Only the fields travel when pickled into Flink's functions; the other side parses anew."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def spec(self) -> TFFlinkJobSpec:
        return self.resource.spec

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RuntimeConfig:
        return cls(**json.loads(text))
