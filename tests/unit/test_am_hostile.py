"""Hostile clients against a real AM server (its own process, as in a TaskManager).

Every forged, oversized, stalled or malformed request gets a 4xx (or is cut off), the server
stays up with bounded memory and threads, and the job's outcome is decided by its real nodes
only. The legitimate client holds the submission's token, as the node agents and the CLI do.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tfflink.runtime.cluster.am_server import AMClient, AMRejected
from tfflink.runtime.cluster.protocol import FinishRequest, HeartbeatRequest, RegisterRequest

pytestmark = pytest.mark.timeout(180)

TOKEN = "s3cret-token-of-this-submission"
OPERATOR = Path(__file__).resolve().parents[2] / "operator"
SERVER = """
import sys, time
from tfflink.lifecycle import RestartPolicy
from tfflink.runtime.cluster.am_state import ClusterState
from tfflink.runtime.cluster.am_server import AMServer
st = ClusterState(roles={"worker": 2, "ps": 1}, policy=RestartPolicy(max_restarts=3), heartbeat_timeout=3600)
srv = AMServer(st, sys.argv[1], host="127.0.0.1", max_workers=16, deadline=3.0, socket_timeout=1.5)
srv.start()
print(srv.port, flush=True)
while True:
    time.sleep(0.2)
    st.check()
"""


class AM:
    """The AM server process and ways to poke at it."""

    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.port = proc, port
        self.address = f"127.0.0.1:{port}"
        self.node = AMClient(self.address, TOKEN)  # what a real node agent uses
        self.anyone = AMClient(self.address)  # no token

    def proc_status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def rss_kib(self) -> int:
        return self.proc_status("VmRSS")

    def threads(self) -> int:
        return self.proc_status("Threads")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = TOKEN,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data

    def raw(self, data: bytes, read: bool = True) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            try:
                s.sendall(data)
                return s.recv(65536) if read else b""
            except (ConnectionResetError, BrokenPipeError):
                return b""

    def alive(self) -> bool:
        return self.proc.poll() is None and self.request("GET", "/healthz")[0] == 200

    def status(self) -> dict[str, Any]:
        return self.node.status()


@pytest.fixture
def am() -> Iterator[AM]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, TOKEN], cwd=OPERATOR, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    server = AM(proc, port)
    yield server
    proc.kill()
    _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err, err[-3000:]


def register_all(am: AM) -> None:
    for role, i, port in (("worker", 0, 5000), ("worker", 1, 5001), ("ps", 0, 5002)):
        assert am.node.register(RegisterRequest(role, i, f"127.0.0.1:{port}", None)).action == "continue"


def test_forged_calls_without_the_token_are_refused_and_change_nothing(am: AM) -> None:
    for call, args in (
        ("register", (RegisterRequest("worker", 0, "6.6.6.6:2222", None),)),
        ("finish", (FinishRequest("worker", 0, 1, 0, ""),)),
        ("heartbeat", (HeartbeatRequest("worker", 0, 1, True, ["forged"]),)),
        ("cluster", (1,)),
        ("logs", (0,)),
    ):
        with pytest.raises(AMRejected, match="401"):
            getattr(am.anyone, call)(*args)
        with pytest.raises(AMRejected, match="403"):
            getattr(AMClient(am.address, "guessed"), call)(*args)
    for _ in range(5):  # a forged verdict, many times over
        assert (
            am.request(
                "POST",
                "/finish",
                json.dumps({"role": "worker", "index": 0, "version": 1, "exitCode": 0}).encode(),
                token=None,
            )[0]
            == 401
        )
    st = am.status()
    assert st["phase"] == "Deploying" and st["roles"] == {"worker": {"Pending": 2}, "ps": {"Pending": 1}}
    assert am.node.logs(0)["lines"] == []


def test_status_is_readable_without_the_token_but_summarised(am: AM) -> None:
    register_all(am)
    public = am.anyone.status()
    assert public["phase"] == "Deploying" and public["roles"] == {"worker": {"Registered": 2}, "ps": {"Registered": 1}}
    assert "nodes" not in public, "no node addresses for anyone without the token"
    assert "nodes" in am.node.status()
    assert len(json.dumps(public)) < 64 << 10


def test_a_registered_address_cannot_be_hijacked(am: AM) -> None:
    register_all(am)
    with pytest.raises(AMRejected, match="401"):
        am.anyone.register(RegisterRequest("ps", 0, "6.6.6.6:2222", 1))
    with pytest.raises(AMRejected, match="409"):  # even with the token: only a new version may move it
        am.node.register(RegisterRequest("ps", 0, "6.6.6.6:2222", 1))
    assert am.node.register(RegisterRequest("ps", 0, "127.0.0.1:5002", 1)).action == "continue", (
        "a retried registration"
    )
    assert am.node.cluster(1).cluster == {"worker": ["127.0.0.1:5000", "127.0.0.1:5001"], "ps": ["127.0.0.1:5002"]}


def test_huge_bodies_are_refused_unread_and_memory_stays_bounded(am: AM) -> None:
    before = am.rss_kib()
    line = "x" * (4 << 20)
    body = json.dumps({"role": "worker", "index": 0, "version": 1, "running": True, "logs": [line]}).encode()
    for i in range(25):
        head = (
            f"POST /heartbeat HTTP/1.1\r\nHost: am\r\nAuthorization: Bearer {TOKEN if i % 2 else 'x'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", am.port), timeout=10) as s:
            s.sendall(head + body[:65536])
            reply = s.recv(4096)
            assert reply.split(b" ")[1] in (b"413", b"403"), reply[:200]
            try:
                s.sendall(body[65536:])
            except OSError:
                pass  # the server closed without reading: exactly the point
    assert am.alive()
    grown = am.rss_kib() - before
    assert grown < 20 << 10, f"RSS grew by {grown} KiB"


def test_log_lines_are_capped_and_escaped(am: AM) -> None:
    register_all(am)
    am.node.heartbeat(HeartbeatRequest("worker", 0, 1, True, ["\x1b]0;pwned\x07\x1b[2J red \x1b[31mtext", "y" * 20000]))
    lines = am.node.logs(0)["lines"]
    assert lines[0] == "\\x1b]0;pwned\\x07\\x1b[2J red \\x1b[31mtext"
    assert len(lines[1]) < 4100 and lines[1].endswith("chars cut]")
    assert all("\x1b" not in ln for ln in lines)
    # a heartbeat from a node that does not exist adds nothing
    assert am.node.heartbeat(HeartbeatRequest("worker", 7, 1, True, ["forged"])).action == "stop"
    assert am.node.logs(0)["lines"] == lines


def test_stalled_clients_are_cut_off_and_threads_stay_bounded(am: AM) -> None:
    socks = []
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", am.port), timeout=10)
        if i % 2:  # headers promising a body that never comes
            s.sendall(b"POST /heartbeat HTTP/1.1\r\nHost: am\r\nContent-Length: 1000\r\n\r\n")
        else:  # half a request line, then silence
            s.sendall(b"POST /regi")
        socks.append(s)
    time.sleep(0.5)
    assert am.threads() <= 16 + 6, f"{am.threads()} threads for 200 stalled clients"
    deadline = time.monotonic() + 10
    for s in socks:  # the server cuts every one of them off (a 503 at once, or after its deadline)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError) as e:
            assert not isinstance(e, (TimeoutError, socket.timeout)), "a stalled connection was kept open"
        s.close()
    assert am.alive()
    assert am.threads() <= 8
    register_all(am)  # and the real nodes get through afterwards


def test_a_trickling_client_is_cut_off_at_the_deadline(am: AM) -> None:
    s = socket.create_connection(("127.0.0.1", am.port), timeout=10)
    t0 = time.monotonic()
    closed = False
    try:
        for ch in b"POST /register HTTP/1.1\r\nHost: am\r\nX-Slow: " + b"a" * 100:
            s.sendall(bytes([ch]))
            time.sleep(0.5)  # always under the per-read timeout, never finishing
    except OSError:
        closed = True
    assert closed and time.monotonic() - t0 < 8
    s.close()
    assert am.alive()


HB = b'{"role": "worker", "index": 0, "version": 1, "progress": %s}'  # a heartbeat with a progress report
MALFORMED: dict[str, tuple[str, str, bytes | None]] = {
    "not json": ("POST", "/register", b"{role: worker"),
    "json list": ("POST", "/register", b"[1, 2, 3]"),
    "json string": ("POST", "/heartbeat", b'"hello"'),
    "json null": ("POST", "/finish", b"null"),
    "missing role": ("POST", "/register", b'{"index": 0, "address": "h:1"}'),
    "missing address": ("POST", "/register", b'{"role": "worker", "index": 0}'),
    "index a string": ("POST", "/register", b'{"role": "worker", "index": "0", "address": "h:1"}'),
    "index negative": ("POST", "/register", b'{"role": "worker", "index": -1, "address": "h:1"}'),
    "index huge": ("POST", "/register", b'{"role": "worker", "index": 1e300, "address": "h:1"}'),
    "role a number": ("POST", "/register", b'{"role": 5, "index": 0, "address": "h:1"}'),
    "address not host:port": ("POST", "/register", b'{"role": "worker", "index": 0, "address": "evil"}'),
    "address port 0": ("POST", "/register", b'{"role": "worker", "index": 0, "address": "h:0"}'),
    "version abc": ("POST", "/register", b'{"role": "worker", "index": 0, "address": "h:1", "version": "abc"}'),
    "version bool": ("POST", "/heartbeat", b'{"role": "worker", "index": 0, "version": true}'),
    "exitCode null": ("POST", "/finish", b'{"role": "worker", "index": 0, "version": 1, "exitCode": null}'),
    "exitCode NaN": ("POST", "/finish", b'{"role": "worker", "index": 0, "version": 1, "exitCode": NaN}'),
    "exitCode Infinity": ("POST", "/finish", b'{"role": "worker", "index": 0, "version": 1, "exitCode": Infinity}'),
    "exitCode float": ("POST", "/finish", b'{"role": "worker", "index": 0, "version": 1, "exitCode": 0.0}'),
    "exitCode 2**70": (
        "POST",
        "/finish",
        b'{"role": "worker", "index": 0, "version": 1, "exitCode": 1180591620717411303424}',
    ),
    "error not a string": (
        "POST",
        "/finish",
        b'{"role": "worker", "index": 0, "version": 1, "exitCode": 1, "error": {}}',
    ),
    "running a string": ("POST", "/heartbeat", b'{"role": "worker", "index": 0, "version": 1, "running": "yes"}'),
    "logs a string": ("POST", "/heartbeat", b'{"role": "worker", "index": 0, "version": 1, "logs": "line"}'),
    "logs of numbers": ("POST", "/heartbeat", b'{"role": "worker", "index": 0, "version": 1, "logs": [1, 2]}'),
    "progress a list": ("POST", "/heartbeat", HB % b"[1]"),
    "progress step negative": ("POST", "/heartbeat", HB % b'{"step": -1}'),
    "progress step float": ("POST", "/heartbeat", HB % b'{"step": 1.5}'),
    "progress step bool": ("POST", "/heartbeat", HB % b'{"step": true}'),
    "progress step 2**70": ("POST", "/heartbeat", HB % b'{"step": 1180591620717411303424}'),
    "progress metric a string": ("POST", "/heartbeat", HB % b'{"step": 1, "metrics": {"loss": "low"}}'),
    "progress metric overflows to inf": ("POST", "/heartbeat", HB % b'{"step": 1, "metrics": {"loss": 1e999}}'),
    "progress metric name with escapes": ("POST", "/heartbeat", HB % b'{"step": 1, "metrics": {"\\u001b[31m": 1}}'),
    "progress unknown field": ("POST", "/heartbeat", HB % b'{"step": 1, "cmd": "rm"}'),
    "progress 17 metrics": (
        "POST",
        "/heartbeat",
        json.dumps(
            {
                "role": "worker",
                "index": 0,
                "version": 1,
                "progress": {"step": 1, "metrics": {f"m{i}": i for i in range(17)}},
            }
        ).encode(),
    ),
    "deep nesting": ("POST", "/register", b"[" * 100000 + b"]" * 100000),
    "not utf-8": ("POST", "/register", b'{"role": "\xff\xfe", "index": 0}'),
    "cluster version abc": ("GET", "/cluster?version=abc", None),
    "cluster version huge": ("GET", "/cluster?version=" + "9" * 40, None),
    "logs after -1": ("GET", "/logs?after=-1", None),
    "unknown endpoint": ("GET", "/admin", None),
    "unknown post": ("POST", "/shutdown", b"{}"),
    "put": ("PUT", "/register", b"{}"),
    "delete": ("DELETE", "/status", None),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_get_a_4xx_and_the_server_stays_up(am: AM, case: str) -> None:
    method, path, body = MALFORMED[case]
    code, reply = am.request(method, path, body, {"Content-Type": "application/json"})
    assert 400 <= code < 500, (code, reply)
    assert am.alive() and am.status()["phase"] == "Deploying"


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /register HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /register HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /register HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n",  # no Content-Length
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET /status HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS hello
    ],
)
def test_broken_http_gets_a_4xx_or_is_dropped(am: AM, raw: bytes) -> None:
    reply = am.raw(raw)
    # (a request line without a version is HTTP/0.9: the answer is the error body alone)
    assert reply == b"" or reply.split(b" ")[1].startswith(b"4") or reply.startswith(b'{"error": "4'), reply[:200]
    assert am.alive()


def test_progress_reports_show_in_status_and_only_within_their_bounds(am: AM) -> None:
    register_all(am)
    am.node.cluster(1)
    beat = {
        "role": "worker",
        "index": 0,
        "version": 1,
        "running": True,
        "progress": {"step": 40, "metrics": {"loss": 0.25}, "checkpointStep": 30},
    }
    assert am.request("POST", "/heartbeat", json.dumps(beat).encode())[0] == 200
    public = am.anyone.status()["progress"]
    assert public["step"] == 40 and public["checkpointStep"] == 30 and public["metrics"] == {"loss": 0.25}
    assert am.status()["nodes"]["worker-0"]["progress"]["step"] == 40
    beat["progress"] = {"step": 41, "metrics": {f"m{i}": i for i in range(17)}}
    code, reply = am.request("POST", "/heartbeat", json.dumps(beat).encode())
    assert code == 400 and "progress: metrics" in reply["error"]
    assert am.anyone.status()["progress"]["step"] == 40, "a refused report changes nothing"


def test_the_job_outcome_is_decided_by_its_nodes_only(am: AM) -> None:
    register_all(am)
    assert am.node.cluster(1).ready is True
    attackers = [threading.Thread(target=_attack, args=(am,)) for _ in range(4)]
    for t in attackers:
        t.start()
    for t in attackers:
        t.join(60)
    assert am.status()["phase"] == "Running" and am.status()["restarts"] == 0
    am.node.finish(FinishRequest("worker", 0, 1, 0, ""))
    am.node.finish(FinishRequest("worker", 1, 1, 0, ""))
    final = am.status()
    assert final["phase"] == "Succeeded" and final["restarts"] == 0
    assert final["nodes"]["ps-0"]["address"] == "127.0.0.1:5002"


def _attack(am: AM) -> None:
    for _ in range(10):
        for path, body in (
            ("/finish", {"role": "worker", "index": 1, "version": 1, "exitCode": 1, "error": "x"}),
            ("/register", {"role": "ps", "index": 0, "address": "6.6.6.6:1", "version": 1}),
            ("/heartbeat", {"role": "worker", "index": 0, "version": 1, "logs": ["\x1b[2Jforged"]}),
        ):
            for token in (None, "wrong"):
                code, _ = am.request("POST", path, json.dumps(body).encode(), token=token)
                assert code in (401, 403, 503)
