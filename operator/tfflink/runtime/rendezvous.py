"""How TF nodes find the AM: the AM publishes its address out of band.

A PyFlink function cannot emit records while it runs, so the AM's address cannot travel
through Flink. The AM writes it to a store both sides can reach instead:

- ``file:///dir`` on one machine (``tfflink run``);
- ``configmap://namespace/name`` on Kubernetes (written with the pod's service account).

Every record names its submission, so a stale address from an earlier attempt is ignored.
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlparse


class RendezvousError(Exception):
    """The AM's address could not be published or found."""


class Rendezvous(ABC):
    """Where the AM publishes ``host:port`` for one submission."""

    def __init__(self, submission: str) -> None:
        self.submission = submission

    @abstractmethod
    def _write(self, record: str) -> None: ...

    @abstractmethod
    def _read(self) -> str | None: ...

    def publish(self, address: str) -> None:
        self._write(json.dumps({"submission": self.submission, "address": address}))

    def lookup(self, timeout: float, poll: float = 0.2) -> str:
        """Wait for this submission's AM address; raise RendezvousError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = self._read()
            except RendezvousError:
                raw = None
            if raw:
                rec = json.loads(raw)
                if rec.get("submission") == self.submission:
                    return str(rec["address"])
            if time.monotonic() >= deadline:
                raise RendezvousError(f"no AM address published within {timeout:.0f}s")
            time.sleep(poll)


class FileRendezvous(Rendezvous):
    """A file in a directory shared by every process of the job (one machine)."""

    def __init__(self, directory: str, submission: str) -> None:
        super().__init__(submission)
        self.path = Path(directory) / "am.json"

    def _write(self, record: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(record)
        tmp.replace(self.path)

    def _read(self) -> str | None:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return None


class ConfigMapRendezvous(Rendezvous):
    """Key ``am-address`` of a ConfigMap, through the in-cluster API (no client library needed)."""

    KEY = "am-address"
    SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

    def __init__(self, namespace: str, name: str, submission: str) -> None:
        super().__init__(submission)
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        self.url = f"https://{host}:{port}/api/v1/namespaces/{namespace}/configmaps/{name}"

    def _request(self, method: str, body: bytes | None = None) -> dict[str, object]:
        token = (self.SA_DIR / "token").read_text().strip()
        ctx = ssl.create_default_context(cafile=str(self.SA_DIR / "ca.crt"))
        req = urllib.request.Request(self.url, data=body, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        if body is not None:
            req.add_header("Content-Type", "application/merge-patch+json")
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
                return dict(json.loads(resp.read()))
        except (urllib.error.URLError, OSError) as e:
            raise RendezvousError(f"{method} {self.url}: {e}") from None

    def _write(self, record: str) -> None:
        self._request("PATCH", json.dumps({"data": {self.KEY: record}}).encode())

    def _read(self) -> str | None:
        data = self._request("GET").get("data") or {}
        return data.get(self.KEY) if isinstance(data, dict) else None


def open_rendezvous(uri: str, submission: str) -> Rendezvous:
    """The store named by ``uri`` (``file:///dir`` or ``configmap://ns/name``)."""
    u = urlparse(uri)
    if u.scheme == "file":
        return FileRendezvous(u.path, submission)
    if u.scheme == "configmap" and u.netloc and u.path.strip("/"):
        return ConfigMapRendezvous(u.netloc, u.path.strip("/"), submission)
    raise RendezvousError(f"unsupported rendezvous {uri!r} (use file:///dir or configmap://ns/name)")
