"""A Flink REST stand-in for the control-plane tier (kwok's pods run no Flink).

It answers the one call the operator makes, ``GET /jobs/overview``, under
``/<namespace>/<service>/`` so one server stands in for every job's JobManager (the operator
is started with ``--flink-url-template http://127.0.0.1:PORT/{namespace}/{service}``). The test
says what Flink would report: no job (503, as while the JobManager starts) or a job's state.

Not the emulator tier's ``emu_standins.FlinkStandIn``, on purpose: that one is a handler set
on the emulator's asyncio loop (next to the Kubernetes API stand-in, its state touched only on
that loop) and also plays the AM's /status; this tier has no event loop and no AM, so a
threaded server with a lock and a history of submissions (a restart submits a new job, the
newest is what the operator reads) is all it needs.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FlinkStandIn:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.lock = threading.Lock()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")
                outer.requests += 1
                if len(parts) != 4 or parts[2] != "jobs":
                    return self._send(404, {"errors": ["not found"]})
                with outer.lock:
                    jobs = outer.jobs.get((parts[0], parts[1]))
                if jobs is None:
                    return self._send(503, {"errors": ["no JobManager here"]})
                if parts[3] != "overview":  # /jobs/<id>: one job's state
                    state = dict(jobs).get(parts[3])
                    if state is None:
                        return self._send(404, {"errors": ["not found"]})
                    return self._send(200, {"jid": parts[3], "name": "tfflink", "state": state, "vertices": []})
                body = [{"jid": j, "name": "tfflink", "state": s, "start-time": i} for i, (j, s) in enumerate(jobs)]
                self._send(200, {"jobs": body})

            def _send(self, code: int, obj: object) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url_template = f"http://127.0.0.1:{self.port}/{{namespace}}/{{service}}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def submit(self, namespace: str, service: str, state: str = "RUNNING") -> str:
        """A new Flink job in that session cluster (the newest one is what the operator reads)."""
        jid = uuid.uuid4().hex
        with self.lock:
            self.jobs.setdefault((namespace, service), []).append((jid, state))
        return jid

    def set_state(self, namespace: str, service: str, state: str) -> None:
        with self.lock:
            jobs = self.jobs[(namespace, service)]
            jobs[-1] = (jobs[-1][0], state)

    def forget(self, namespace: str, service: str) -> None:
        """The session cluster is gone (a fresh JobManager has no jobs)."""
        with self.lock:
            self.jobs.pop((namespace, service), None)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
