"""The Flink REST calls the operator makes, async and injectable.

The operator reads the state of the job in a session cluster from the JobManager's REST API.
Where the JobManager is reached is a URL template: in the cluster the Service's DNS name; from
outside, e.g. ``kubectl proxy``'s
``http://127.0.0.1:8001/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy``; in
the emulator tier, a Flink REST stand-in.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from ..flink_rest import accumulator_values, root_exception_text
from . import names as n

log = logging.getLogger(__name__)
IN_CLUSTER = "http://{service}.{namespace}.svc:{port}"
MAX_BODY = 64 * 1024  # a job's JobManager and AM are the job's code: never read more than this


class FlinkClient:
    """Reads ``/jobs/overview`` of one job's JobManager; None when it does not answer."""

    def __init__(self, url_template: str = IN_CLUSTER, *, timeout: float = 3.0) -> None:
        self.url_template = url_template
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def base_url(self, namespace: str, job: str) -> str:
        svc = n.jobmanager_service(job)
        return self.url_template.format(namespace=namespace, service=svc, port=n.FLINK_REST_PORT).rstrip("/")

    async def _get(self, url: str) -> Any:
        """GET and parse JSON, reading at most MAX_BODY bytes (the pods answering are the job's)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        async with self._session.get(url, allow_redirects=False) as resp:
            resp.raise_for_status()
            body = await resp.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise ValueError(f"{url}: answer larger than {MAX_BODY} bytes")
            return json.loads(body)

    async def only_job(self, namespace: str, job: str) -> str | None:
        """The id of the session cluster's one job, None when there are none or several."""
        try:
            data = await self._get(self.base_url(namespace, job) + "/jobs/overview")
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.debug("Flink REST of %s/%s not answering: %s", namespace, job, e)
            return None
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, list) or len(jobs) != 1 or not isinstance(jobs[0], dict):
            return None
        return str(jobs[0].get("jid") or "") or None

    async def job_state(self, namespace: str, job: str, job_id: str) -> str | None:
        """State of the Flink job ``job_id`` (the one the submitter started), or None."""
        try:
            data = await self._get(f"{self.base_url(namespace, job)}/jobs/{job_id}")
        except (TimeoutError, aiohttp.ClientError, ValueError) as e:
            log.debug("Flink REST of %s/%s not answering: %s", namespace, job, e)
            return None
        return str(data.get("state")) if isinstance(data, dict) and data.get("state") else None

    async def root_exception(self, namespace: str, job: str, job_id: str) -> str | None:
        """The failed job's root exception text (Flink keeps it once the job is FAILED)."""
        try:
            data = await self._get(f"{self.base_url(namespace, job)}/jobs/{job_id}/exceptions")
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None
        return root_exception_text(data)

    async def accumulators(self, namespace: str, job: str, job_id: str) -> dict[str, int]:
        """The job's numeric user accumulators (the data plane's row counts); empty when unread."""
        try:
            data = await self._get(f"{self.base_url(namespace, job)}/jobs/{job_id}/accumulators")
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return {}
        return accumulator_values(data)

    async def am_status(self, address: str) -> dict[str, Any] | None:
        """The AM's ``/status`` (per-role counts), or None."""
        try:
            data = await self._get(f"http://{address}/status")
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
