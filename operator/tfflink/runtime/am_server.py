"""The AM's HTTP endpoint and its client: how nodes, the CLI and the operator reach the AM.

JSON over HTTP from the standard library: every part of the system (a TF node, the CLI, the
operator, ``curl``) can talk to it, and it needs no dependency in the runtime image.

    POST /register   {role, index, address, version?}   -> {action, version}
    GET  /cluster?version=V                               -> {action, version, ready, cluster}
    POST /heartbeat  {role, index, version, running, logs, progress?} -> {action, version}
    POST /finish     {role, index, version, exitCode, error} -> {action, version}
    GET  /status                                          -> phase, roles, restarts, ...
    GET  /logs?after=N                                    -> {lines, next}
    GET  /healthz                                         -> {ok}

Every endpoint but ``/status`` and ``/healthz`` needs ``Authorization: Bearer <token>``,
the submission's secret (``RuntimeConfig.token``): 401 without it, 403 with a wrong one.
``/status`` stays readable without it (the Kubernetes operator polls it): a bounded,
side-effect-free summary without node addresses; with the token it also lists the nodes.

The server is hostile-input proof: bodies are typed and capped (413 above ``MAX_BODY``),
every malformed request gets a 4xx (never a traceback), each connection has a deadline (a
stalled client is cut off), and at most ``MAX_WORKERS`` requests are served at once (the
rest get a 503 at once, which the node agents retry).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from .am_state import AddressConflict, ClusterState
from .progress import Progress, parse_progress

log = logging.getLogger(__name__)

MAX_BODY = 64 << 10  # bytes of one request body
MAX_REPLY = 8 << 20  # bytes of one reply the client reads
MAX_WORKERS = 64  # requests served at once
REQUEST_DEADLINE = 15.0  # seconds one connection may take, from accept to reply
SOCKET_TIMEOUT = 5.0  # seconds one read or write on a connection may block
MAX_LOG_LINES_PER_CALL = 1000
MAX_INT = 2**31 - 1
ADDRESS = re.compile(r"^[A-Za-z0-9.\-]{1,253}:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]{2,45}\]:[0-9]{1,5}$")
AUTH_SCHEME = "Bearer "


class AMUnreachable(Exception):
    """The AM did not answer (or is busy): worth retrying."""


class AMRejected(Exception):
    """The AM refused the request (4xx): retrying the same request will not help."""


class BadRequest(Exception):
    """A malformed request; ``code`` is the 4xx to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- typed fields ------------------------------------------------------------------------------


def _int(body: dict[str, Any], key: str, lo: int = 0, hi: int = MAX_INT, *, optional: bool = False) -> Any:
    v = body.get(key)
    if v is None and optional:
        return None
    if type(v) is not int or not lo <= v <= hi:  # bool, float, str, null are refused
        raise BadRequest(400, f"{key}: must be an integer in [{lo}, {hi}]")
    return v


def _str(body: dict[str, Any], key: str, limit: int, *, default: str | None = None) -> str:
    v = body.get(key, default)
    if not isinstance(v, str) or len(v) > limit:
        raise BadRequest(400, f"{key}: must be a string of at most {limit} characters")
    return v


def _node(body: dict[str, Any]) -> tuple[str, int]:
    return _str(body, "role", 32), _int(body, "index", 0, 100_000)


def _address(body: dict[str, Any]) -> str:
    addr = _str(body, "address", 300)
    if not ADDRESS.match(addr) or not 0 < int(addr.rsplit(":", 1)[1]) < 65536:
        raise BadRequest(400, "address: must be host:port")
    return addr


def _logs(body: dict[str, Any]) -> list[str]:
    v = body.get("logs")
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_LOG_LINES_PER_CALL or not all(isinstance(x, str) for x in v):
        raise BadRequest(400, f"logs: must be a list of at most {MAX_LOG_LINES_PER_CALL} strings")
    return v


def _progress(body: dict[str, Any]) -> Progress | None:
    v = body.get("progress")
    if v is None:
        return None
    try:
        return parse_progress(v)
    except ValueError as e:
        raise BadRequest(400, f"progress: {e}") from None


def _query_int(query: str, key: str) -> int:
    try:
        values = parse_qs(query, max_num_fields=10).get(key, ["0"])
        v = int(values[0]) if len(values[0]) <= 12 else -1
    except ValueError:
        v = -1
    if not 0 <= v <= 2**62:
        raise BadRequest(400, f"{key}: must be a non-negative integer")
    return v


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_body(data: bytes) -> dict[str, Any]:
    """A request body as a JSON object; BadRequest for anything else."""
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(400, "body: must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "body: must be a JSON object")
    return body


# -- server ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: AMServer
    timeout = SOCKET_TIMEOUT  # applied to the socket in setup(): a silent client is cut off
    error_content_type = "application/json"
    error_message_format = '{"error": "%(code)d %(message)s"}'

    def setup(self) -> None:
        # typeshed types StreamRequestHandler.timeout as a ClassVar; setup() reads it per instance.
        self.timeout = self.server.socket_timeout  # type: ignore[misc]
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("am http: " + format, *args)

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="tfflink-am"')
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def _has_token(self) -> bool:
        given = self.headers.get("Authorization", "")
        if not given.startswith(AUTH_SCHEME):
            return False
        return hmac.compare_digest(given[len(AUTH_SCHEME) :].strip().encode(errors="replace"), self.server.token)

    def _authorized(self) -> bool:
        """True with the right token; else answers 401 (none) or 403 (wrong) itself."""
        if self._has_token():
            return True
        if not self.headers.get("Authorization", "").startswith(AUTH_SCHEME):
            self._reply(401, {"error": "this endpoint needs the job's token (Authorization: Bearer ...)"})
        else:
            self._reply(403, {"error": "wrong token"})
        return False

    def _serve(self, fn: Any) -> None:
        try:
            fn()
        except BadRequest as e:
            self._reply(e.code, {"error": str(e)})
        except AddressConflict as e:
            self._reply(409, {"error": str(e)})
        except (OSError, TimeoutError):
            self.close_connection = True  # the client went away or stalled: nothing to answer
        except Exception:  # a bug must not kill the connection's thread noisily
            log.exception("am http: %s %s failed", self.command, self.path[:200])
            try:
                self._reply(500, {"error": "internal error"})
            except OSError:
                pass

    def do_GET(self) -> None:
        self._serve(self._get)

    def do_POST(self) -> None:
        self._serve(self._post)

    def _refuse_method(self) -> None:
        self._reply(405, {"error": f"method {self.command} not allowed"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method

    def _get(self) -> None:
        url = urlparse(self.path)
        st = self.server.state
        if url.path == "/status":
            self._reply(200, st.status(full=self._has_token()))
        elif url.path == "/healthz":
            self._reply(200, {"ok": True})
        elif url.path == "/cluster":
            if self._authorized():
                self._reply(200, st.cluster(_query_int(url.query, "version")))
        elif url.path == "/logs":
            if self._authorized():
                self._reply(200, st.logs_after(_query_int(url.query, "after")))
        else:
            self._reply(404, {"error": "no such endpoint"})

    def _read_body(self) -> dict[str, Any]:
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise BadRequest(411, "Content-Length required")
        if not raw.strip().isdigit() or len(raw) > 12:
            raise BadRequest(400, "Content-Length: must be a number")
        n = int(raw)
        if n > MAX_BODY:
            raise BadRequest(413, f"body over {MAX_BODY} bytes")
        chunks, got = [], 0
        deadline = time.monotonic() + self.server.socket_timeout * 2
        while got < n:
            if time.monotonic() > deadline:
                raise BadRequest(408, "body not sent in time")
            chunk = self.rfile.read1(n - got) if hasattr(self.rfile, "read1") else self.rfile.read(n - got)
            if not chunk:
                raise BadRequest(400, "body shorter than Content-Length")
            chunks.append(chunk)
            got += len(chunk)
        return parse_body(b"".join(chunks))

    def _post(self) -> None:
        path = urlparse(self.path).path
        if path not in ("/register", "/heartbeat", "/finish"):
            self._reply(404, {"error": "no such endpoint"})
            return
        if not self._authorized():
            return
        body = self._read_body()
        role, index = _node(body)
        st = self.server.state
        if path == "/register":
            address = _address(body)
            self._reply(200, st.register(role, index, address, _int(body, "version", 0, optional=True)))
        elif path == "/heartbeat":
            running = body.get("running", False)
            if not isinstance(running, bool):
                raise BadRequest(400, "running: must be true or false")
            version, logs, progress = _int(body, "version"), _logs(body), _progress(body)
            self._reply(200, st.heartbeat(role, index, version, running, logs, progress))
        else:
            code = _int(body, "exitCode", -(2**31), MAX_INT)
            self._reply(
                200, st.finish(role, index, _int(body, "version"), code, _str(body, "error", 1 << 15, default=""))
            )


class AMServer(ThreadingHTTPServer):
    """Serves one ClusterState on ``host`` (the pod IP, or 127.0.0.1 locally); ``port`` 0 picks one.

    ``token`` is the submission's secret; ``max_workers`` bounds the threads serving requests,
    ``deadline`` the seconds any one connection may stay open and ``socket_timeout`` how long
    one read may wait.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        state: ClusterState,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_workers: int = MAX_WORKERS,
        deadline: float = REQUEST_DEADLINE,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        if not token:
            raise ValueError("the AM needs the submission's token")
        self.state = state
        self.token = token.encode()
        self.deadline = deadline
        self.socket_timeout = socket_timeout
        self._slots = threading.BoundedSemaphore(max_workers)
        self._open: dict[socket.socket, float] = {}
        self._open_lock = threading.Lock()
        self._stopping = threading.Event()
        if ":" in host:  # an IPv6 pod IP
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="am-http", daemon=True)
        t.start()
        threading.Thread(target=self._reap, name="am-http-reaper", daemon=True).start()
        return t

    def shutdown(self) -> None:
        self._stopping.set()
        super().shutdown()

    # -- bounded concurrency --------------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:  # every worker busy: say so at once instead of queueing behind stalled clients
                request.setblocking(False)
                request.send(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open[request] = time.monotonic() + self.deadline
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done(request)

    def _done(self, request: Any) -> None:
        with self._open_lock:
            known = self._open.pop(request, None) is not None
        if known:
            self._slots.release()

    def _reap(self) -> None:
        """Cut off connections past their deadline (a client that trickles bytes forever)."""
        while not self._stopping.wait(0.5):
            now = time.monotonic()
            with self._open_lock:
                late = [s for s, t in self._open.items() if t < now]
            for s in late:
                try:
                    s.shutdown(socket.SHUT_RDWR)  # the blocked read returns; the thread ends
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("am http: connection from %s ended with an error", client_address, exc_info=True)


# -- client ------------------------------------------------------------------------------------


class AMClient:
    """Calls the AM at ``address`` (host:port) with the submission's ``token``; every call has a timeout."""

    def __init__(self, address: str, token: str = "", timeout: float = 5.0) -> None:
        self.address = address
        self.token = token
        self.timeout = timeout

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.address}{path}", data=data, method="POST" if data else "GET")
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", AUTH_SCHEME + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                reply = json.loads(resp.read(MAX_REPLY + 1)[:MAX_REPLY], parse_constant=_reject_constant)
        except urllib.error.HTTPError as e:
            if e.code >= 500:
                raise AMUnreachable(f"AM at {self.address}: HTTP {e.code}") from None
            try:
                detail = str(json.loads(e.read(4096)).get("error", ""))[:300]
            except (ValueError, AttributeError, OSError):
                detail = ""
            raise AMRejected(f"AM at {self.address} refused {path.split('?')[0]}: HTTP {e.code} {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise AMUnreachable(f"AM at {self.address}: {e}") from None
        if not isinstance(reply, dict):
            raise AMUnreachable(f"AM at {self.address}: reply is not a JSON object")
        return reply

    def register(self, role: str, index: int, address: str, version: int | None) -> dict[str, Any]:
        return self._call("/register", {"role": role, "index": index, "address": address, "version": version})

    def cluster(self, version: int) -> dict[str, Any]:
        return self._call(f"/cluster?version={version}")

    def heartbeat(
        self, role: str, index: int, version: int, running: bool, logs: list[str], progress: Progress | None = None
    ) -> dict[str, Any]:
        body = {"role": role, "index": index, "version": version, "running": running, "logs": logs}
        if progress is not None:
            body["progress"] = progress.to_wire()
        return self._call("/heartbeat", body)

    def finish(self, role: str, index: int, version: int, exit_code: int, error: str) -> dict[str, Any]:
        return self._call(
            "/finish", {"role": role, "index": index, "version": version, "exitCode": exit_code, "error": error}
        )

    def status(self) -> dict[str, Any]:
        return self._call("/status")

    def logs(self, after: int) -> dict[str, Any]:
        return self._call(f"/logs?after={after}")


def log_batches(
    lines: list[str], max_bytes: int = MAX_BODY // 2, max_lines: int = MAX_LOG_LINES_PER_CALL // 2
) -> list[list[str]]:
    """``lines`` cut into heartbeat-sized batches (each well under the AM's body limit)."""
    out: list[list[str]] = [[]]
    size = 0
    for line in lines:
        n = len(json.dumps(line)) + 2
        if out[-1] and (size + n > max_bytes or len(out[-1]) >= max_lines):
            out.append([])
            size = 0
        out[-1].append(line)
        size += n
    return out


__all__ = ["AMClient", "AMRejected", "AMServer", "AMUnreachable", "BadRequest", "log_batches"]
