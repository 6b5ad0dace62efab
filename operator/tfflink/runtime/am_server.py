"""The AM's HTTP endpoint and its client: how nodes, the CLI and the operator reach the AM.

JSON over HTTP from the standard library: every part of the system (a TF node, the CLI, the
operator, ``curl``) can talk to it, and it needs no dependency in the runtime image.

    POST /register   {role, index, address, version?}   -> {action, version}
    GET  /cluster?version=V                               -> {action, version, ready, cluster}
    POST /heartbeat  {role, index, version, running, logs} -> {action, version}
    POST /finish     {role, index, version, exitCode, error} -> {action, version}
    GET  /status                                          -> phase, roles, restarts, ...
    GET  /logs?after=N                                    -> {lines, next}
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from .am_state import ClusterState

log = logging.getLogger(__name__)


class AMUnreachable(Exception):
    """The AM did not answer."""


class _Handler(BaseHTTPRequestHandler):
    server: AMServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("am http: " + format, *args)

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        st = self.server.state
        if url.path == "/status":
            self._reply(200, st.status())
        elif url.path == "/cluster":
            self._reply(200, st.cluster(int(q.get("version", "0"))))
        elif url.path == "/logs":
            self._reply(200, st.logs_after(int(q.get("after", "0"))))
        elif url.path == "/healthz":
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"error": f"no such endpoint {url.path}"})

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            role, index = str(body["role"]), int(body["index"])
        except (ValueError, KeyError) as e:
            self._reply(400, {"error": f"bad request: {e}"})
            return
        st = self.server.state
        if self.path == "/register":
            v = body.get("version")
            self._reply(200, st.register(role, index, str(body["address"]), None if v is None else int(v)))
        elif self.path == "/heartbeat":
            self._reply(200, st.heartbeat(role, index, int(body["version"]), bool(body.get("running")), body.get("logs")))
        elif self.path == "/finish":
            self._reply(200, st.finish(role, index, int(body["version"]), int(body["exitCode"]), str(body.get("error", ""))))
        else:
            self._reply(404, {"error": f"no such endpoint {self.path}"})


class AMServer(ThreadingHTTPServer):
    """Serves one ClusterState on all interfaces; ``port`` 0 picks a free port."""

    daemon_threads = True

    def __init__(self, state: ClusterState, port: int = 0) -> None:
        super().__init__(("0.0.0.0", port), _Handler)
        self.state = state

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="am-http", daemon=True)
        t.start()
        return t


class AMClient:
    """Calls the AM at ``address`` (host:port); every call has a timeout."""

    def __init__(self, address: str, timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.address}{path}", data=data, method="POST" if data else "GET")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return dict(json.loads(resp.read()))
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise AMUnreachable(f"AM at {self.address}: {e}") from None

    def register(self, role: str, index: int, address: str, version: int | None) -> dict[str, Any]:
        return self._call("/register", {"role": role, "index": index, "address": address, "version": version})

    def cluster(self, version: int) -> dict[str, Any]:
        return self._call(f"/cluster?version={version}")

    def heartbeat(self, role: str, index: int, version: int, running: bool, logs: list[str]) -> dict[str, Any]:
        return self._call("/heartbeat", {"role": role, "index": index, "version": version, "running": running, "logs": logs})

    def finish(self, role: str, index: int, version: int, exit_code: int, error: str) -> dict[str, Any]:
        return self._call("/finish", {"role": role, "index": index, "version": version, "exitCode": exit_code, "error": error})

    def status(self) -> dict[str, Any]:
        return self._call("/status")

    def logs(self, after: int) -> dict[str, Any]:
        return self._call(f"/logs?after={after}")
