"""Leader election on a ``coordination.k8s.io/v1`` Lease: of several operator replicas, one acts.

The rules are client-go's leaderelection (also what flink-kubernetes-operator uses):

- a replica takes the Lease when nobody holds it, or when the holder's record has not changed
  for ``lease_duration`` seconds *as this replica observed it* (its own clock, never the
  holder's timestamps: clocks of two nodes may differ);
- the holder renews it every ``retry_period``; if it could not renew for ``renew_deadline`` it
  has lost it and must stop acting at once (the operator exits; its Deployment restarts it as a
  follower). ``renew_deadline < lease_duration``, so it stops before anyone else may start;
- on a clean shutdown the holder gives the Lease up (empty holder), so a follower takes over
  after one ``retry_period`` instead of a whole ``lease_duration``.

Every write carries the resourceVersion that was read: two replicas racing for one record get
one success and one 409 Conflict.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kubernetes
from kubernetes.client import ApiException

log = logging.getLogger(__name__)


def default_identity() -> str:
    """The pod's name (POD_NAME from the downward API), else host and process id."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class LeaseSettings:
    """Where the Lease is and how it is held (seconds)."""

    namespace: str
    name: str = "tfflink-operator"
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    """A follower takes over this long after it last saw the holder renew."""
    renew_deadline: float = 10.0
    """The holder gives up (exits) when it could not renew for this long."""
    retry_period: float = 2.0
    """How often the holder renews and a follower tries to take it."""

    def __post_init__(self) -> None:
        if not self.namespace or not self.name or not self.identity:
            raise ValueError("leader election: the Lease's namespace and name and this replica's identity must be set")
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election: need 0 < --leader-elect-retry-period < --leader-elect-renew-deadline < "
                "--leader-elect-lease-duration, got "
                f"{self.retry_period:g} / {self.renew_deadline:g} / {self.lease_duration:g}"
            )

    @property
    def request_timeout(self) -> float:
        """Per API call: a renewal (a read and a write) fits in the renew deadline; a slow API
        server is not a lost Lease until that deadline has passed."""
        return self.renew_deadline / 2


def _micro_time(t: datetime) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseElector:
    """Takes, renews and gives up one Lease; the blocking calls run in a thread."""

    def __init__(
        self,
        settings: LeaseSettings,
        api: kubernetes.client.CoordinationV1Api,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s, self.clock = settings, clock
        self.api: Any = api  # Leases go in and out as plain dicts
        self._seen: tuple[Any, ...] | None = None  # the last record read (holder, renewTime, transitions)
        self._seen_at = 0.0  # when it last changed, on our clock
        self.holder = ""  # the holder in the last record read

    def _body(self, *, acquired: str, transitions: int, version: str | None, duration: float) -> dict[str, Any]:
        now = _micro_time(datetime.now(UTC))
        meta: dict[str, Any] = {"name": self.s.name, "namespace": self.s.namespace}
        if version:
            meta["resourceVersion"] = version
        spec = {
            "holderIdentity": self.s.identity,
            "leaseDurationSeconds": max(1, round(duration)),
            "acquireTime": acquired,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _read(self) -> dict[str, Any] | None:
        """The stored Lease, None if there is none."""
        s = self.s
        try:
            resp = self.api.read_namespaced_lease(
                s.name, s.namespace, _request_timeout=s.request_timeout, _preload_content=False
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        lease = json.loads(resp.data)
        return lease if isinstance(lease, dict) else {}

    def try_acquire_or_renew(self) -> bool:
        """One attempt (blocking): True when this replica holds the Lease afterwards."""
        s, timeout = self.s, self.s.request_timeout
        lease = self._read()
        if lease is None:
            body = self._body(
                acquired=_micro_time(datetime.now(UTC)), transitions=0, version=None, duration=s.lease_duration
            )
            try:
                self.api.create_namespaced_lease(s.namespace, body, _request_timeout=timeout)
            except ApiException as e:
                if e.status == 409:  # another replica created it first
                    return False
                raise
            self.holder = s.identity
            return True
        spec = lease.get("spec") or {}
        self.holder = str(spec.get("holderIdentity") or "")
        record = (self.holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._seen:
            self._seen, self._seen_at = record, self.clock()
        duration = float(spec.get("leaseDurationSeconds") or s.lease_duration)
        mine = self.holder == s.identity
        if self.holder and not mine and self.clock() < self._seen_at + duration:
            return False  # held, and renewed recently enough
        acquired = spec.get("acquireTime") if mine else None
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        body = self._body(
            acquired=acquired or _micro_time(datetime.now(UTC)),
            transitions=transitions,
            version=(lease.get("metadata") or {}).get("resourceVersion"),
            duration=s.lease_duration,
        )
        try:
            self.api.replace_namespaced_lease(s.name, s.namespace, body, _request_timeout=timeout)
        except ApiException as e:
            if e.status == 409:  # changed since we read it: someone else renewed or took it
                return False
            raise
        if not mine:
            log.info("took the Lease %s/%s (held before by %r)", s.namespace, s.name, self.holder or None)
        self.holder = s.identity
        return True

    async def _attempt(self) -> bool:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.try_acquire_or_renew)
        except (ApiException, OSError, kubernetes.client.exceptions.OpenApiException) as e:
            log.warning("Lease %s/%s: %s", self.s.namespace, self.s.name, getattr(e, "reason", None) or e)
            return False

    async def acquire(self) -> None:
        """Wait until this replica holds the Lease."""
        log.info("waiting for the Lease %s/%s as %r", self.s.namespace, self.s.name, self.s.identity)
        while not await self._attempt():
            await asyncio.sleep(self.s.retry_period * (1 + 0.2 * random.random()))

    async def hold(self) -> None:
        """Renew the Lease; return when it is lost (not renewed for ``renew_deadline``, or taken)."""
        renewed = self.clock()
        while True:
            await asyncio.sleep(self.s.retry_period)
            if await self._attempt():
                renewed = self.clock()
            elif self.holder not in ("", self.s.identity):
                log.error("the Lease %s/%s is held by %r now", self.s.namespace, self.s.name, self.holder)
                return
            if self.clock() - renewed > self.s.renew_deadline:
                log.error(
                    "could not renew the Lease %s/%s for %gs", self.s.namespace, self.s.name, self.s.renew_deadline
                )
                return

    def release(self) -> None:
        """Give the Lease up if this replica holds it (blocking, best effort): a follower need
        not wait out the lease duration."""
        s = self.s
        try:
            lease = self._read() or {}
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") != s.identity:
                return
            body = self._body(
                acquired=spec.get("acquireTime") or _micro_time(datetime.now(UTC)),
                transitions=int(spec.get("leaseTransitions") or 0),
                version=(lease.get("metadata") or {}).get("resourceVersion"),
                duration=1,
            )
            body["spec"]["holderIdentity"] = None
            self.api.replace_namespaced_lease(s.name, s.namespace, body, _request_timeout=s.request_timeout)
            log.info("gave up the Lease %s/%s", s.namespace, s.name)
        except (ApiException, OSError) as e:
            log.warning("could not give up the Lease %s/%s: %s", s.namespace, s.name, e)
