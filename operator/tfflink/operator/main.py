"""``python -m tfflink.operator``: run the operator with command-line settings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from .config import OperatorConfig
from .leader import LeaseSettings, default_identity

log = logging.getLogger(__name__)


def _leader_args(p: argparse.ArgumentParser) -> None:
    """client-go's flag names, so the chart reads like any other controller's."""
    d = LeaseSettings(namespace="-", identity="-")
    g = p.add_argument_group("leader election (a coordination.k8s.io/v1 Lease; replicas > 1 need it)")
    g.add_argument("--leader-elect", action="store_true", help="act only while holding the Lease")
    g.add_argument(
        "--leader-elect-resource-namespace",
        default=os.environ.get("POD_NAMESPACE", ""),
        help="the Lease's namespace (default: $POD_NAMESPACE)",
    )
    g.add_argument("--leader-elect-resource-name", default=d.name, help="the Lease's name")
    g.add_argument("--leader-elect-identity", default=None, help="this replica's name (default: $POD_NAME)")
    g.add_argument(
        "--leader-elect-lease-duration",
        type=float,
        default=d.lease_duration,
        help="seconds a follower waits after the leader's last renewal",
    )
    g.add_argument(
        "--leader-elect-renew-deadline",
        type=float,
        default=d.renew_deadline,
        help="seconds the leader may fail to renew before it exits",
    )
    g.add_argument(
        "--leader-elect-retry-period",
        type=float,
        default=d.retry_period,
        help="seconds between renewals and between tries",
    )


def lease_settings(args: argparse.Namespace) -> LeaseSettings | None:
    """The Lease to hold, or None without --leader-elect; ValueError names the bad flag."""
    if not args.leader_elect:
        return None
    if not args.leader_elect_resource_namespace:
        raise ValueError("--leader-elect needs --leader-elect-resource-namespace (or POD_NAMESPACE)")
    return LeaseSettings(
        namespace=args.leader_elect_resource_namespace,
        name=args.leader_elect_resource_name,
        identity=args.leader_elect_identity or default_identity(),
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
    )


def parse_args(argv: list[str] | None) -> tuple[OperatorConfig, argparse.Namespace]:
    env = OperatorConfig.from_env()
    p = argparse.ArgumentParser(prog="tfflink-operator", description="Run the TFFlinkJob operator.")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="serve this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="serve the whole cluster (default)")
    p.add_argument("--liveness", default=env.liveness, help="liveness endpoint URL ('' turns it off)")
    p.add_argument("--metrics-port", type=int, default=env.metrics_port, help="Prometheus port (0: off)")
    p.add_argument(
        "--flink-url-template",
        default=env.flink_url_template,
        help="JobManager REST URL with {namespace}, {service}, {port}",
    )
    p.add_argument("--poll-seconds", type=float, default=env.poll_seconds, help="Flink state polling period")
    p.add_argument("--watch-timeout", type=int, default=env.watch_timeout_seconds, help="watch request timeout (s)")
    p.add_argument(
        "--log-format", choices=["json", "plain", "full"], default=os.environ.get("TFFLINK_LOG_FORMAT", "json")
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    _leader_args(p)
    args = p.parse_args(argv)
    namespaces = tuple(args.namespace) or (() if args.all_namespaces else env.namespaces)
    cfg = OperatorConfig(
        namespaces=namespaces,
        flink_url_template=args.flink_url_template,
        poll_seconds=args.poll_seconds,
        metrics_port=args.metrics_port,
        liveness=args.liveness,
        watch_timeout_seconds=args.watch_timeout,
    )
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; the CLI's ``tfflink operator`` calls this."""
    import kopf

    from . import handlers  # noqa: F401 - registers the handlers

    cfg, args = parse_args(argv)
    kopf.configure(
        debug=args.verbose,
        verbose=args.verbose,
        log_format={"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL}[
            args.log_format
        ],
    )
    logging.getLogger("tfflink").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        lease = lease_settings(args)
    except ValueError as e:
        print(f"tfflink-operator: {e}", file=sys.stderr)
        return 2
    if lease is not None:
        cfg = replace(cfg, field_manager=f"tfflink-operator@{lease.identity}"[:128])
    operator = kopf.operator(
        clusterwide=not cfg.namespaces,
        namespaces=list(cfg.namespaces),
        liveness_endpoint=cfg.liveness or None,
        standalone=True,
        memo=kopf.Memo(config=cfg),
    )
    return asyncio.run(operator if lease is None else _lead(lease, cfg, operator)) or 0


async def _lead(lease: LeaseSettings, cfg: OperatorConfig, operator: Any) -> int:
    """Run ``operator`` (kopf's coroutine) only while holding the Lease.

    A follower answers the liveness endpoint itself while it waits. A leader that loses the
    Lease exits at once, before the next one may start (renew deadline < lease duration): no
    cleanup handler runs, nothing is written; its Deployment restarts it as a follower.
    """
    import kubernetes

    from ..backends.kubernetes.api import load_client
    from .leader import LeaseElector

    client = load_client(pool_size=2)
    elector = LeaseElector(lease, kubernetes.client.CoordinationV1Api(client))
    try:
        async with _standby_health(cfg.liveness):
            await elector.acquire()
    except BaseException:
        operator.close()  # never started
        raise
    log.info("leading as %r: starting the handlers", lease.identity)
    acting = asyncio.ensure_future(operator)
    holding = asyncio.ensure_future(elector.hold())
    done, _ = await asyncio.wait({acting, holding}, return_when=asyncio.FIRST_COMPLETED)
    if holding in done:
        log.error("lost the Lease %s/%s: exiting so that another replica acts alone", lease.namespace, lease.name)
        logging.shutdown()
        os._exit(3)
    holding.cancel()
    try:
        acting.result()
    finally:
        await asyncio.get_running_loop().run_in_executor(None, elector.release)
        client.close()
    return 0


@contextlib.asynccontextmanager
async def _standby_health(endpoint: str) -> AsyncIterator[None]:
    """``endpoint`` answered while this replica waits for the Lease (kopf serves it once leading)."""
    if not endpoint:
        yield
        return
    from aiohttp import web

    url = urllib.parse.urlsplit(endpoint)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"leader": False})

    app = web.Application()
    app.router.add_get(url.path or "/", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, url.hostname, url.port or 80, reuse_address=True).start()
    try:
        yield
    finally:
        await runner.cleanup()
