"""The ``tfflink`` command: thin wrappers over the spec loader and the backends.

Failures end a command through :func:`tfflink.cli.exits.report` (its docstring lists the exit
codes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from ..errors import TfflinkError
from ..lifecycle.errors import failure_record
from ..spec import LoadedJob, check_entry, load_job
from . import kube
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, report
from .exits import err as _err


def _load(path: str) -> LoadedJob:
    loaded = load_job(path)
    check_entry(loaded)
    return loaded


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args.job)
    job = loaded.job
    sizes = job.spec.roles.sizes()
    extra = "".join(f", {sizes[r]} {r}" for r in ("chief", "evaluator") if sizes[r])
    print(
        f"{args.job}: valid TFFlinkJob {job.metadata.name!r} ({job.spec.mode.value}, "
        f"{sizes['worker']} worker(s), {sizes['ps']} ps{extra})"
    )
    return EXIT_OK


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    from ..backends.local_runner import LocalRunner  # pulls in PyFlink paths
    from ..lifecycle.rows import input_guarantee, row_counts

    loaded = _load(args.job)
    name = loaded.job.metadata.name
    workdir = Path(args.workdir or Path(".tfflink") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    runner = LocalRunner(loaded, workdir=workdir, flink_address=args.flink_address, quiet=not args.verbose)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"tfflink: job {name}: work dir {workdir}", flush=True)
    try:
        result = runner.run()
    except KeyboardInterrupt:
        runner.close()
        _err(f"job {name} interrupted; everything it started was stopped")
        return EXIT_INTERRUPTED
    except (TfflinkError, RuntimeError) as e:  # RuntimeError: a local Flink cluster that did not start
        runner.close()
        return report(e, f"job {name}")
    if args.status_file:
        Path(args.status_file).write_text(
            json.dumps(
                {
                    "phase": result.phase.value,
                    "reason": result.reason,
                    "restarts": result.restarts,
                    "restartReasons": result.restart_reasons,
                    "jobId": result.job_id,
                    "elapsedSeconds": round(result.elapsed, 2),
                    "am": result.am_status,
                    "rows": row_counts(result.accumulators),
                    "inputGuarantee": input_guarantee(result.accumulators),
                },
                indent=2,
            )
        )
    if result.phase.value == "Succeeded":
        print(f"tfflink: job {name} Succeeded in {result.elapsed:.1f}s (restarts: {result.restarts})", flush=True)
        return EXIT_OK
    _err(f"job {name} Failed after {result.elapsed:.1f}s (restarts: {result.restarts}): {result.reason}")
    return EXIT_FAILED


def cmd_submit(args: argparse.Namespace) -> int:
    if not args.flink_address or not args.rendezvous:
        _err(
            "submit: --flink-address and --rendezvous are required (how the operator's submitter pod "
            "submits); to submit a job to your Kubernetes cluster: tfflink submit --kubernetes job.yaml"
        )
        return EXIT_INVALID
    try:
        return _submit(args)
    except TfflinkError as e:
        if args.result_file:  # the operator reads it (the submitter pod's termination message)
            _write_result(args.result_file, failure_record(e))
        raise


def _submit(args: argparse.Namespace) -> int:
    from ..backends.submit import submit
    from ..runtime.config import RuntimeConfig

    loaded = _load_submitted(args.job, args.base_dir)
    import uuid

    token = None
    if args.token_file:  # e.g. a mounted Secret; default: a fresh random token
        try:
            token = Path(args.token_file).read_text().strip()
        except OSError as e:
            _err(f"cannot read --token-file {args.token_file}: {e.strerror}")
            return EXIT_INVALID
        if len(token) < 16:
            _err(f"--token-file {args.token_file}: the token must have at least 16 characters")
            return EXIT_INVALID
    cfg = RuntimeConfig.from_loaded(
        loaded,
        rendezvous=args.rendezvous,
        submission=args.submission or uuid.uuid4().hex[:12],
        restarts_done=args.restarts_done,
        token=token,
    )
    import tempfile

    # A private directory of our own unless given: it briefly holds the token (never a fixed
    # path in a shared /tmp; the operator's submitter pod passes its own emptyDir).
    workdir = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="tfflink-submit-"))
    job_id = submit(cfg, flink_address=args.flink_address, workdir=workdir)
    result = json.dumps({"jobId": job_id, "submission": cfg.submission})
    print(result, flush=True)
    if args.result_file:
        _write_result(args.result_file, result)
    return EXIT_OK


def _write_result(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as e:
        _err(f"cannot write --result-file {path}: {e}")


def _load_submitted(path: str, base_dir: str | None) -> LoadedJob:
    """The job file, with relative paths resolved against ``base_dir`` when given (pods)."""
    from dataclasses import replace

    loaded = load_job(path)
    if base_dir:
        loaded = replace(loaded, base_dir=Path(os.path.normpath(Path(base_dir).absolute())))
    check_entry(loaded)
    return loaded


def cmd_flink_exec(args: argparse.Namespace) -> int:
    """Write FLINK_CONF_DIR (the image's Flink defaults + the job's keys), then exec the command."""
    import os

    import yaml

    from ..backends.flink_conf import CONFIG_FILE, write_conf_dir

    command = list(args.command)
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        _err("flink-exec: no command given after --")
        return EXIT_INVALID
    src = Path(args.config_dir)
    home = Path(os.environ.get("FLINK_HOME", "/opt/flink"))
    dest = Path(os.environ.get("FLINK_CONF_DIR") or "/opt/tfflink/conf")
    overrides = yaml.safe_load((src / CONFIG_FILE).read_text()) or {}
    files = {f.name: f.read_text() for f in src.glob("log4j*.properties")}
    write_conf_dir(
        dest, defaults_dir=home / "conf", overrides={str(k): str(v) for k, v in overrides.items()}, files=files
    )
    os.execvp(command[0], command)
    return EXIT_FAILED  # not reached


def cmd_operator(args: argparse.Namespace) -> int:
    from ..operator.main import main as operator_main  # needs tfflink[operator]

    rest = list(args.operator_args)
    return operator_main(rest[1:] if rest[:1] == ["--"] else rest)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfflink", description="Distributed TensorFlow on Apache Flink.")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging (run: also TF's INFO and deprecation lines)"
    )
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a job file and its entry function; start nothing")
    v.add_argument("job", help="path of job.yaml")
    v.set_defaults(fn=cmd_validate)

    r = sub.add_parser("run", help="run a job on a local Flink session cluster (the embedded default)")
    r.add_argument("job", help="path of job.yaml")
    r.add_argument("--flink-address", metavar="HOST:PORT", help="submit to this existing session cluster instead")
    r.add_argument("--workdir", help="where logs and Flink files go (default .tfflink/<name>-<time>)")
    r.add_argument("--status-file", help="write the final status as JSON here")
    r.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also TF's C++ INFO logs and deprecation notices in the node output",
    )
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser(
        "submit",
        help="submit a job: --kubernetes to your cluster (code as a ConfigMap), else to a "
        "Flink session cluster (the operator's submitter pod), printing its Flink job id",
    )
    s.add_argument("job", help="path of job.yaml")
    s.add_argument("--flink-address", metavar="HOST:PORT", help="the session cluster (required without --kubernetes)")
    s.add_argument("--rendezvous", help="file:///dir or configmap://namespace/name (required without --kubernetes)")
    s.add_argument("--submission", help="submission id (default: random)")
    s.add_argument("--workdir", help="where the client's files go (default: a new private temporary directory)")
    s.add_argument("--base-dir", help="resolve the job's relative paths here (default: the job file's directory)")
    s.add_argument("--restarts-done", type=int, default=0, help="restarts this run already spent (the AM's budget)")
    s.add_argument("--result-file", help="also write the result JSON here (a pod's termination message)")
    s.add_argument("--token-file", help="the AM's secret token for this submission (default: a new random one)")
    s.set_defaults(fn=cmd_submit)

    x = sub.add_parser(
        "flink-exec", help="(pods) write FLINK_CONF_DIR from the image's Flink and --config-dir, exec CMD"
    )
    x.add_argument("--config-dir", required=True, help="directory with config.yaml (our keys) and log4j files")
    x.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to exec")
    x.set_defaults(fn=cmd_flink_exec)

    o = sub.add_parser("operator", help="run the Kubernetes operator (options: tfflink operator -- --help)")
    o.add_argument("operator_args", nargs=argparse.REMAINDER, help="passed to the operator")
    o.set_defaults(fn=cmd_operator)

    kube.add_commands(sub)  # submit --kubernetes, status, logs, ui (cli/kube.py)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.fn(args))
    except TfflinkError as e:
        return report(e)


if __name__ == "__main__":
    sys.exit(main())
