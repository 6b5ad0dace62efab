"""``python -m tfflink.operator``: run the operator with command-line settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from .config import OperatorConfig


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
    args = p.parse_args(argv)
    namespaces = tuple(args.namespace) or (() if args.all_namespaces else env.namespaces)
    cfg = OperatorConfig(
        namespaces=namespaces, flink_url_template=args.flink_url_template, poll_seconds=args.poll_seconds,
        metrics_port=args.metrics_port, liveness=args.liveness, watch_timeout_seconds=args.watch_timeout,
    )  # fmt: skip
    return cfg, args


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT/SIGTERM; the CLI's ``tfflink operator`` calls this."""
    import kopf

    from . import handlers  # noqa: F401 - registers the handlers

    cfg, args = parse_args(argv)
    kopf.configure(
        debug=args.verbose, verbose=args.verbose,
        log_format={"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL}[args.log_format],
    )  # fmt: skip
    logging.getLogger("tfflink").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    asyncio.run(kopf.operator(
        clusterwide=not cfg.namespaces, namespaces=list(cfg.namespaces),
        liveness_endpoint=cfg.liveness or None, standalone=True, memo=kopf.Memo(config=cfg),
    ))  # fmt: skip
    return 0
