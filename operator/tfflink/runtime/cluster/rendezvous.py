"""How TF nodes find the AM: the AM publishes its address out of band.

A PyFlink function cannot emit records while it runs, so the AM's address cannot travel
through Flink. The AM writes it to a store both sides can reach instead:

- ``file:///dir`` on one machine (``tfflink run``);
- ``configmap://namespace/name`` on Kubernetes (written with the pod's service account).

Every record names its submission, so a stale address from an earlier attempt is ignored,
and carries an HMAC of the address under the submission's token: a record written by anyone
without the token (who could then harvest the token from the nodes' calls) is ignored too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import urlparse

from ...errors import TemporaryFailure
from .protocol import ADDRESS

MAX_RECORD = 4096


class RendezvousError(TemporaryFailure):
    """The AM's address could not be published or found (yet): lookups poll until a timeout."""


class Rendezvous(ABC):
    """Where the AM publishes ``host:port`` for one submission (signed with ``token`` if given)."""

    def __init__(self, submission: str, token: str | None = None) -> None:
        self.submission = submission
        self.token = token

    def _mac(self, address: str) -> str:
        assert self.token
        msg = f"{self.submission}|{address}".encode()
        return hmac.new(self.token.encode(), msg, hashlib.sha256).hexdigest()

    @abstractmethod
    def _write(self, record: str) -> None: ...

    @abstractmethod
    def _read(self) -> str | None: ...

    def publish(self, address: str) -> None:
        record = {"submission": self.submission, "address": address}
        if self.token:
            record["mac"] = self._mac(address)
        self._write(json.dumps(record))

    def _accept(self, raw: str) -> str | None:
        """The address in ``raw`` if it is this submission's (and signed, with a token)."""
        if len(raw) > MAX_RECORD:
            return None
        try:
            rec = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(rec, dict) or rec.get("submission") != self.submission:
            return None
        address = rec.get("address")
        if not isinstance(address, str) or not ADDRESS.match(address):
            return None
        if self.token and not hmac.compare_digest(str(rec.get("mac", "")), self._mac(address)):
            return None
        return address

    def lookup(self, timeout: float, poll: float = 0.2) -> str:
        """Wait for this submission's AM address; raise RendezvousError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = self._read()
            except RendezvousError:
                raw = None
            address = self._accept(raw) if raw else None
            if address:
                return address
            if time.monotonic() >= deadline:
                raise RendezvousError(f"no AM address published within {timeout:.0f}s")
            time.sleep(poll)


class FileRendezvous(Rendezvous):
    """A file in a directory shared by every process of the job (one machine)."""

    def __init__(self, directory: str, submission: str, token: str | None = None) -> None:
        super().__init__(submission, token)
        self.path = Path(directory) / "am.json"

    def _write(self, record: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(record)
        tmp.replace(self.path)

    def _read(self) -> str | None:
        try:
            with self.path.open() as fh:
                return fh.read(MAX_RECORD + 1)
        except FileNotFoundError:
            return None


class ConfigMapRendezvous(Rendezvous):
    """Key ``am-address`` of a ConfigMap, through the in-cluster API (no client library needed)."""

    KEY = "am-address"
    SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

    def __init__(self, namespace: str, name: str, submission: str, token: str | None = None) -> None:
        super().__init__(submission, token)
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


def open_rendezvous(uri: str, submission: str, token: str | None = None) -> Rendezvous:
    """The store named by ``uri`` (``file:///dir`` or ``configmap://ns/name``)."""
    u = urlparse(uri)
    if u.scheme == "file":
        return FileRendezvous(u.path, submission, token)
    if u.scheme == "configmap" and u.netloc and u.path.strip("/"):
        return ConfigMapRendezvous(u.netloc, u.path.strip("/"), submission, token)
    raise RendezvousError(f"unsupported rendezvous {uri!r} (use file:///dir or configmap://ns/name)")
