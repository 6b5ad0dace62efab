"""The Kubernetes operator: kopf handlers reconciling TFFlinkJobs (the only kopf importer).

Entry points: ``python -m tfflink.operator`` / :func:`main`, or
``kopf run -m tfflink.operator.handlers``.
"""

from .main import main

__all__ = ["main"]
