"""The TFFlinkJob spec: models, loading and validation."""

from .loader import LoadedJob, SpecError, check_entry, format_errors, load_job, parse_job
from .models import (
    API_VERSION,
    KIND,
    Backoff,
    Entry,
    FailoverSpec,
    FlinkSpec,
    Mode,
    Resources,
    Roles,
    RoleSpec,
    TFFlinkJob,
    TFFlinkJobSpec,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "Backoff",
    "Entry",
    "FailoverSpec",
    "FlinkSpec",
    "LoadedJob",
    "Mode",
    "Resources",
    "RoleSpec",
    "Roles",
    "SpecError",
    "TFFlinkJob",
    "TFFlinkJobSpec",
    "check_entry",
    "format_errors",
    "load_job",
    "parse_job",
]
