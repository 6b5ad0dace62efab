"""Runs the emulator tier's stand-ins in a background thread: the Kubernetes API stand-in
(:mod:`kube_standin`) and a Flink REST stand-in, both real HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp.web
import kmock
import yaml
from kube_standin import KubeStandIn

T = TypeVar("T")


class FlinkStandIn:
    """Answers the Flink REST calls the operator makes (``/jobs/overview``, ``/jobs/<id>``).

    Served under ``/<namespace>/<service>/`` so one server stands in for every job's
    JobManager; the operator reaches it through its ``--flink-url-template``. It also answers
    as the jobs' AMs (``/am/<ns>/<job>/status``). The control-plane tier has its own, simpler
    stand-in (tests/e2e/flink_standin.py: a threaded server, no event loop, no AM).
    """

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict[str, str]] = {}
        self.am: dict[tuple[str, str], dict[str, object]] = {}  # the AM's /status per job
        self.root_am: dict[str, object] | None = None  # an AM answering at host:port/status

    def set_job(self, namespace: str, service: str, state: str, job_id: str | None = None) -> str:
        jobs = self.jobs.setdefault((namespace, service), {})
        jid = job_id or (next(iter(jobs)) if jobs else uuid.uuid4().hex)
        jobs[jid] = state
        return jid

    def forget(self, namespace: str, service: str) -> None:
        self.jobs.pop((namespace, service), None)

    async def overview(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        jobs = self.jobs.get((request.match_info["ns"], request.match_info["svc"]))
        if jobs is None:
            return aiohttp.web.json_response({"errors": ["no JobManager here"]}, status=503)
        return aiohttp.web.json_response(
            {
                "jobs": [
                    {"jid": j, "name": "tfflink", "state": s, "start-time": i} for i, (j, s) in enumerate(jobs.items())
                ]
            }
        )

    async def job(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        jobs = self.jobs.get((request.match_info["ns"], request.match_info["svc"])) or {}
        jid = request.match_info["jid"]
        if jid not in jobs:
            return aiohttp.web.json_response({"errors": ["not found"]}, status=404)
        return aiohttp.web.json_response({"jid": jid, "name": "tfflink", "state": jobs[jid], "vertices": []})

    async def am_status(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        status = self.am.get((request.match_info["ns"], request.match_info["job"]))
        if status is None:
            return aiohttp.web.json_response({"error": "no AM"}, status=404)
        return aiohttp.web.json_response(status)

    async def root_am_status(self, request: aiohttp.web.Request) -> aiohttp.web.Response:
        if self.root_am is None:
            return aiohttp.web.json_response({"error": "no AM"}, status=404)
        return aiohttp.web.json_response(self.root_am)

    def app(self) -> aiohttp.web.Application:
        app = aiohttp.web.Application()
        app.router.add_get("/status", self.root_am_status)
        app.router.add_get("/am/{ns}/{job}/status", self.am_status)  # an AM's address is host:port/am/ns/job
        app.router.add_get("/{ns}/{svc}/jobs/overview", self.overview)
        app.router.add_get("/{ns}/{svc}/jobs/{jid}", self.job)
        return app


class StandIns:
    """Both stand-ins on one event loop in a daemon thread; ``call`` runs code on that loop."""

    def __init__(self, *, autopilot: bool = False) -> None:
        self.kube = KubeStandIn(autopilot=autopilot)
        self.flink = FlinkStandIn()
        self.loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stand-ins", daemon=True)
        self.kube_url = self.flink_url = ""

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        async with self.kube, kmock.Server(self.kube) as server:
            runner = aiohttp.web.AppRunner(self.flink.app(), access_log=None)
            await runner.setup()
            site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            self.kube_url = str(server.url).rstrip("/")
            self.flink_url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

    def start(self) -> StandIns:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("stand-ins did not start")
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the stand-ins' loop (their state is not thread-safe)."""

        async def wrap() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(10)

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "standin",
                    "clusters": [{"name": "standin", "cluster": {"server": self.kube_url}}],
                    "users": [{"name": "standin", "user": {"token": "standin"}}],
                    "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "standin"}}],
                }
            )
        )
        return path

    def flink_url_template(self) -> str:
        return self.flink_url + "/{namespace}/{service}"


def run_coro(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result(30)
