"""The Kubernetes-facing user commands: ``submit --kubernetes``, ``status``, ``logs``, ``ui``.

They talk to the cluster of the current kube context (``--kubeconfig``/``--context`` to choose
another, ``-n`` for the namespace) with the kubernetes client, imported inside the commands so
``tfflink validate`` stays fast. Every failure is one ``tfflink: error: ...`` line and a
non-zero exit (1; 2 for a job or directory that cannot be submitted), never a traceback
(:mod:`tfflink.cli.exits`).

Code delivery (``tfflink submit --kubernetes job.yaml``): the job file's directory becomes one
ConfigMap ``<job>-code``, one key per file, which the operator mounts at /opt/tfflink/job, the
directory the job's relative paths resolve against in the pods
(``spec.kubernetes.codeConfigMap``). The rules, all checked before anything is created:

- Flat: ConfigMap keys cannot contain '/' and the mount is one directory, so files in
  subdirectories are refused (not flattened: the job's paths would not find them), listed in
  the error; ``--exclude`` leaves them out. The job's relative input paths (entry.file,
  input.process.file, csv paths) must be plain names in that directory; relative output.path,
  checkpointDir and savedModel.path are refused (the mount is read-only and holds flat files).
- Skipped: hidden files and directories (``.git``, ``.tfflink`` work dirs...), ``__pycache__``,
  ``*.pyc``, and ``--exclude GLOB`` matches (on the name or the relative path).
- Text that is valid UTF-8 goes to ``data``; anything else to ``binaryData`` (the pods see the
  same bytes). A symlink to a file inside the directory is read through; one pointing outside
  the directory is refused.
- Size: Kubernetes holds at most 1 MiB in one ConfigMap (keys + bytes counted here); a bigger
  directory is refused, naming its biggest files.

Then the ConfigMap is created (or replaced), the TFFlinkJob is applied (server-side apply,
field manager ``tfflink-cli``) with ``spec.kubernetes.codeConfigMap`` set, and the ConfigMap
gets the job as its owner, so deleting the TFFlinkJob garbage-collects it. If a step fails,
what this run created is deleted again (a replaced ConfigMap is put back).
"""

from __future__ import annotations

import argparse
import base64
import copy
import fnmatch
import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TfflinkError
from ..lifecycle.rows import counts_text
from ..spec import check_entry, load_job, parse_job
from ..spec.crd import GROUP, PLURAL, VERSION
from ..spec.models import API_VERSION, KIND, TF_ROLES, TFFlinkJob
from ..spec.status import Phase
from .exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, CliError
from .exits import err as _err

log = logging.getLogger(__name__)

# Mirrors of tfflink.backends.kubernetes (names, manifests), kept here so that building the
# parser imports nothing heavy; tests/unit/test_cli_kube.py checks they agree.
JOB_LABEL, COMPONENT_LABEL, ATTEMPT_LABEL = "tfflink.dev/job", "tfflink.dev/component", "tfflink.dev/attempt"
APP_NAME, MANAGED_BY = "app.kubernetes.io/name", "app.kubernetes.io/managed-by"
TASKMANAGER = "taskmanager"
REST_PORT = 8081
JOB_DIR = "/opt/tfflink/job"

CODE_COMPONENT = "code"
FIELD_MANAGER = "tfflink-cli"
CONFIGMAP_LIMIT = 1024 * 1024  # Kubernetes: one ConfigMap's data + binaryData, at most 1 MiB
KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")  # a ConfigMap key (and so a file name in the mount)
MAX_KEY = 253
NODE_LINE = re.compile(r"^\[(?P<role>[a-z]+)-(?P<index>\d+)\](?: |$)")  # "[worker-1] ..."
TERMINAL = tuple(p.value for p in Phase if p.finished)
TIMEOUT = 30.0  # seconds, per API call (log streams excepted)
CONN_PREFIX = re.compile(r"^(<[^>]*>|\w+\([^)]*\)): ")  # urllib3's "HTTPSConnection(host=...): "
MERGE, APPLY = "application/merge-patch+json", "application/apply-patch+yaml"


def _warn(msg: str) -> None:
    print(f"tfflink: warning: {msg}", file=sys.stderr, flush=True)


def human(n: float) -> str:
    """Bytes as people read them: 512 B, 6.0 KiB, 1.5 MiB."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # not reached


def code_config_map_name(job: str) -> str:
    return f"{job}-code"


def jobmanager_service(job: str) -> str:
    return f"{job}-jobmanager"


# --- packaging the job directory -------------------------------------------------------------


@dataclass
class CodePackage:
    """The files of one job directory, as ConfigMap keys."""

    root: Path
    data: dict[str, str] = field(default_factory=dict)  # UTF-8 text
    binary_data: dict[str, bytes] = field(default_factory=dict)  # anything else

    def sizes(self) -> dict[str, int]:
        out = {k: len(v.encode()) for k, v in self.data.items()}
        out.update({k: len(v) for k, v in self.binary_data.items()})
        return out

    @property
    def keys(self) -> list[str]:
        return sorted([*self.data, *self.binary_data])

    @property
    def total(self) -> int:
        """What counts against the limit: every key and every value's bytes."""
        return sum(len(k) + n for k, n in self.sizes().items())


def _matches(name: str, rel: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(rel, p.rstrip("/")) for p in patterns)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _listing(items: list[str], most: int = 6) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def package_dir(root: Path, exclude: Iterable[str] = ()) -> CodePackage:
    """Read ``root`` into a :class:`CodePackage`; raise CliError for what cannot be delivered."""
    root = root.resolve()
    patterns = list(exclude)
    pkg = CodePackage(root)
    nested: list[str] = []
    outside: list[str] = []
    bad_names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        keep = []
        for d in sorted(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d.startswith(".") or d == "__pycache__" or _matches(d, rel, patterns):
                continue
            if (here / d).is_symlink():  # os.walk does not descend; it is a subdirectory anyway
                target = (here / d).resolve()
                if _inside(target, root):
                    nested.append(f"{rel}/")
                else:
                    outside.append(f"{rel} -> {target}")
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            if f.startswith(".") or f.endswith((".pyc", ".pyo")) or _matches(f, rel, patterns):
                continue
            path = here / f
            if path.is_symlink():
                target = path.resolve()
                if not _inside(target, root):
                    outside.append(f"{rel} -> {target}")
                    continue
                if not target.is_file():
                    outside.append(f"{rel} -> {target} (not a file)")
                    continue
            elif not path.is_file():  # sockets, fifos
                continue
            if rel_dir != ".":
                nested.append(rel)
                continue
            if not KEY_RE.match(f) or len(f) > MAX_KEY:
                bad_names.append(repr(f))
                continue
            raw = path.read_bytes()
            try:
                pkg.data[f] = raw.decode("utf-8")
            except UnicodeDecodeError:
                pkg.binary_data[f] = raw
    if outside:
        raise CliError(
            f"{root}: symlinks pointing outside the job directory cannot be delivered: "
            f"{_listing(outside)}; copy the files in, or leave them out with --exclude",
            EXIT_INVALID,
        )
    if nested:
        first = nested[0].split("/")[0]
        raise CliError(
            f"{root}: files in subdirectories cannot go into the code ConfigMap (its keys cannot contain '/' "
            f"and it is mounted as one flat directory, {JOB_DIR}): {_listing(nested)}; move them next to the "
            f"job file, leave them out (--exclude {first}), or ship them in the image or on a volume",
            EXIT_INVALID,
        )
    if bad_names:
        raise CliError(
            f"{root}: file names must be valid ConfigMap keys (letters, digits, '-', '_', '.'; at most "
            f"{MAX_KEY}): {_listing(bad_names)}; rename them or leave them out (--exclude)",
            EXIT_INVALID,
        )
    return pkg


def check_size(pkg: CodePackage, limit: int = CONFIGMAP_LIMIT) -> None:
    """Refuse a package Kubernetes would refuse, naming its biggest files."""
    if pkg.total <= limit:
        return
    biggest = sorted(pkg.sizes().items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    raise CliError(
        f"{pkg.root}: {human(pkg.total)} in {len(pkg.keys)} files is over the {human(limit)} one ConfigMap can "
        f"hold (Kubernetes' limit); the biggest: {', '.join(f'{k} ({human(v)})' for k, v in biggest)}; "
        "leave data out (--exclude) and read it from a volume, an object store or the image (absolute paths)",
        EXIT_INVALID,
    )


def _relative(path: str) -> bool:
    return not path.startswith("/") and "://" not in path


def job_path_problems(job: TFFlinkJob) -> list[str]:
    """The job's relative paths that would not resolve (or not be writable) in the code mount."""
    spec = job.spec
    out: list[str] = []

    def flat(where: str, value: str | None) -> None:
        if value and _relative(value):
            norm = posixpath.normpath(value)
            if "/" in norm or norm.startswith(".."):
                out.append(
                    f"{where}: {value} is not directly in the job file's directory; the code ConfigMap is "
                    f"one flat directory in the pods ({JOB_DIR}): move it next to the job file, or use an "
                    "absolute path (image or volume)"
                )

    def not_relative(where: str, value: str | None, why: str) -> None:
        if value and _relative(value):
            out.append(
                f"{where}: {value} is relative, so in the pods it is inside the code ConfigMap mount "
                f"({JOB_DIR}), which {why}; use an absolute path on a volume or an object-store URI"
            )

    if spec.entry is not None:
        flat("spec.entry.file", spec.entry.file)
    if spec.input is not None:
        if spec.input.process is not None:
            flat("spec.input.process.file", spec.input.process.file)
        for i, src in enumerate(spec.input.sources):
            for j, p in enumerate(src.csv.paths if src.csv else []):
                flat(f"spec.input.sources[{i}].csv.paths[{j}]", p)
    not_relative("spec.checkpointDir", spec.checkpoint_dir, "is read-only")
    not_relative("spec.output.path", spec.output.path if spec.output else None, "is read-only")
    not_relative(
        "spec.savedModel.path",
        spec.saved_model.path if spec.saved_model else None,
        "holds flat files only (no directories)",
    )
    return out


def missing_files(job: TFFlinkJob, pkg: CodePackage) -> list[str]:
    """Relative files the job names that the package leaves out (excluded or hidden)."""
    spec = job.spec
    named = [
        ("spec.entry.file", spec.entry.file if spec.entry else None),
        ("spec.input.process.file", spec.input.process.file if spec.input and spec.input.process else None),
    ]
    for i, src in enumerate(spec.input.sources if spec.input else []):
        named += [
            (f"spec.input.sources[{i}].csv.paths[{j}]", p) for j, p in enumerate(src.csv.paths if src.csv else [])
        ]
    out = []
    for where, value in named:
        if value and _relative(value):
            name = posixpath.normpath(value)
            globbing = any(c in name for c in "*?[")
            if not (fnmatch.filter(pkg.keys, name) if globbing else name in pkg.keys):
                out.append(f"{where}: {value} is not in the code ConfigMap (hidden or --exclude'd?)")
    return out


# --- the objects ------------------------------------------------------------------------------


def code_labels(job: str) -> dict[str, str]:
    return {APP_NAME: "tfflink", MANAGED_BY: FIELD_MANAGER, JOB_LABEL: job, COMPONENT_LABEL: CODE_COMPONENT}


def code_config_map(job: str, namespace: str, pkg: CodePackage) -> dict[str, Any]:
    """The ConfigMap of the job's files (its owner is set once the TFFlinkJob exists)."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": code_config_map_name(job), "namespace": namespace, "labels": code_labels(job)},
        "data": dict(sorted(pkg.data.items())),
    }
    if pkg.binary_data:
        body["binaryData"] = {k: base64.b64encode(v).decode() for k, v in sorted(pkg.binary_data.items())}
    return body


def job_document(raw: dict[str, Any], namespace: str, code_config_map: str) -> dict[str, Any]:
    """The job file's document as applied: namespace set, codeConfigMap set, no status."""
    doc = copy.deepcopy(raw)
    doc.pop("status", None)
    meta = doc.setdefault("metadata", {})
    for k in ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"):
        meta.pop(k, None)
    meta["namespace"] = namespace
    spec = doc.setdefault("spec", {})
    spec["kubernetes"] = {**(spec.get("kubernetes") or {}), "codeConfigMap": code_config_map}
    return doc


def owner_reference(job: str, uid: str) -> dict[str, Any]:
    """The TFFlinkJob as the ConfigMap's owner: deleting the job garbage-collects it."""
    return {"apiVersion": API_VERSION, "kind": KIND, "name": job, "uid": uid}


# --- talking to the cluster ---------------------------------------------------------------------


@dataclass
class Kube:
    api: Any  # kubernetes.client.ApiClient
    core: Any
    custom: Any
    host: str
    namespace: str  # -n, else the context's, else "default"


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    """The namespace of the kube context (local files only; None when there is none)."""
    try:
        from kubernetes import config

        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:  # noqa: BLE001 - no kubeconfig: in-cluster or the default namespace
        sa_ns = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        return sa_ns.read_text().strip() if os.environ.get("KUBERNETES_SERVICE_HOST") and sa_ns.exists() else None
    ctx = next((c for c in contexts if c.get("name") == context), None) if context else active
    return ((ctx or {}).get("context") or {}).get("namespace")


def connect(args: argparse.Namespace) -> Kube:
    """A client for the kube context (or the pod's service account), and the namespace."""
    import kubernetes
    from kubernetes.config.config_exception import ConfigException

    cfg = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_kube_config(
            config_file=args.kubeconfig, context=args.context, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, OSError) as e:
        if args.kubeconfig or args.context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            where = args.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise CliError(f"no usable Kubernetes configuration ({where}): {e}") from None
        kubernetes.config.load_incluster_config(client_configuration=cfg)
    cfg.retries = 1  # one retry (a stale keep-alive connection), then the error
    if not cfg.verify_ssl:  # insecure-skip-tls-verify: the user chose it; kubectl does not warn either
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry warnings are not one line
    api = kubernetes.client.ApiClient(cfg)
    ns = args.namespace or _context_namespace(args.kubeconfig, args.context) or "default"
    return Kube(api, kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api), cfg.host, ns)


def _status_body(e: Any) -> dict[str, Any]:
    try:
        body = json.loads(e.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def describe(e: BaseException) -> str | None:
    """One line for an API, connection or configuration failure; None for anything else."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError, MaxRetryError

    if isinstance(e, ApiException):
        msg = _status_body(e).get("message") or (e.body or "").strip()[:200] or e.reason
        hint = {401: "; check the credentials of your kube context", 403: "; ask for RBAC access (kubectl auth can-i)"}
        return f"Kubernetes API: {msg} (HTTP {e.status} {e.reason}){hint.get(e.status or 0, '')}"
    if isinstance(e, MaxRetryError):
        reason = CONN_PREFIX.sub("", str(e.reason or e))
        pool = getattr(e, "pool", None)
        where = f"{pool.scheme}://{pool.host}:{pool.port}" if pool is not None else "?"
        return f"cannot reach the Kubernetes API server at {where}: {reason}"
    if isinstance(e, HTTPError):
        return f"cannot reach the Kubernetes API server: {CONN_PREFIX.sub('', str(e))}"
    if isinstance(e, ConfigException):
        return f"Kubernetes configuration: {e}"
    return None


def guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a command: API and connection failures become one ``tfflink: error:`` line; ours
    go to main, which reports them (:func:`tfflink.cli.exits.report`)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except TfflinkError:
            raise
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except Exception as e:  # never a traceback; -v logs it
            log.debug("tfflink %s failed", args.command, exc_info=True)
            msg = describe(e) or f"{type(e).__name__}: {e} (tfflink -v shows where)"
            _err(msg)
            return EXIT_FAILED

    return run


def _is_status(e: BaseException, code: int) -> bool:
    """An API answer with this HTTP status (the client raises subclasses: NotFoundException...)."""
    from kubernetes.client.exceptions import ApiException

    return isinstance(e, ApiException) and e.status == code


def get_job(kube: Kube, name: str) -> dict[str, Any]:
    """The stored TFFlinkJob; a missing job or a missing CRD is a CliError saying which."""
    try:
        return dict(
            kube.custom.get_namespaced_custom_object(
                GROUP, VERSION, kube.namespace, PLURAL, name, _request_timeout=TIMEOUT
            )
        )
    except Exception as e:
        if _is_status(e, 404):
            if (_status_body(e).get("details") or {}).get("name") == name:
                raise CliError(
                    f"TFFlinkJob {name} not found in namespace {kube.namespace} (kubectl get tfj -n {kube.namespace})"
                ) from None
            raise CliError(
                "the API server does not know TFFlinkJobs: install the CRD (kubectl apply -f crds/)"
            ) from None
        raise


def _job_exists(kube: Kube, name: str) -> bool:
    try:
        get_job(kube, name)
        return True
    except CliError as e:
        if "not found in namespace" in e.message:
            return False
        raise


# --- submit --kubernetes ------------------------------------------------------------------------


@dataclass
class Prepared:
    """Everything ``submit --kubernetes`` will create, built and checked before any API call."""

    name: str
    namespace: str
    package: CodePackage
    config_map: dict[str, Any]
    job: dict[str, Any]
    warnings: list[str]


def prepare(
    job_file: str,
    namespace: str | None,
    exclude: Iterable[str] = (),
    context_namespace: Callable[[], str | None] = lambda: None,
) -> Prepared:
    """Load, validate and package; raise SpecError (exit 2) or CliError, creating nothing."""
    import yaml

    loaded = load_job(job_file)
    check_entry(loaded)
    job = loaded.job
    name = job.metadata.name
    problems = job_path_problems(job)
    if problems:
        raise CliError("; ".join(problems), EXIT_INVALID)
    pkg = package_dir(loaded.base_dir, exclude)
    missing = missing_files(job, pkg)
    if missing:
        raise CliError("; ".join(missing), EXIT_INVALID)
    check_size(pkg)
    if namespace and job.metadata.namespace and namespace != job.metadata.namespace:
        raise CliError(f"{job_file} says namespace {job.metadata.namespace}, -n says {namespace}", EXIT_INVALID)
    ns = namespace or job.metadata.namespace or context_namespace() or "default"
    cm = code_config_map(name, ns, pkg)
    raw = yaml.safe_load(loaded.path.read_text())
    doc = job_document(raw, ns, cm["metadata"]["name"])
    stored = parse_job(doc, str(loaded.path))  # still a valid TFFlinkJob
    warnings = []
    old = ((raw.get("spec") or {}).get("kubernetes") or {}).get("codeConfigMap")
    if old and old != cm["metadata"]["name"]:
        warnings.append(f"spec.kubernetes.codeConfigMap {old} is replaced by {cm['metadata']['name']}")
    from ..backends.kubernetes.manifests import spec_problems

    warnings += [f"the operator will refuse this job: {p}" for p in spec_problems(stored.spec)]
    return Prepared(name, ns, pkg, cm, doc, warnings)


def _dry_run(p: Prepared) -> None:
    import yaml

    sizes = p.package.sizes()
    print(
        f"# dry run: nothing was created. ConfigMap {p.config_map['metadata']['name']} "
        f"(namespace {p.namespace}): {len(sizes)} files, {human(p.package.total)} of {human(CONFIGMAP_LIMIT)}"
    )
    for k in p.package.keys:
        print(f"#   {k}  {human(sizes[k])}{'  (binaryData)' if k in p.package.binary_data else ''}")
    print("---")
    print(yaml.safe_dump(p.job, sort_keys=False), end="")


def _restore(kube: Kube, previous: Any) -> None:
    """Put a replaced ConfigMap back as it was."""
    old = kube.api.sanitize_for_serialization(previous)
    meta = {
        k: v
        for k, v in old.get("metadata", {}).items()
        if k in ("name", "namespace", "labels", "annotations", "ownerReferences")
    }
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    body.update({k: old[k] for k in ("data", "binaryData") if old.get(k)})
    kube.core.replace_namespaced_config_map(meta["name"], meta["namespace"], body, _request_timeout=TIMEOUT)


def apply(kube: Kube, p: Prepared) -> tuple[bool, bool]:
    """Create/replace the ConfigMap, apply the job, own the ConfigMap; undo on failure.

    Returns (ConfigMap created, job created): False means replaced / configured.
    """
    ns, cm_name = p.namespace, p.config_map["metadata"]["name"]
    job_existed = _job_exists(kube, p.name)  # also: the CRD is there, before anything is created
    try:
        previous = kube.core.read_namespaced_config_map(cm_name, ns, _request_timeout=TIMEOUT)
    except Exception as e:
        if not _is_status(e, 404):
            raise
        previous = None
    cm_done = job_done = False
    try:
        if previous is None:
            kube.core.create_namespaced_config_map(ns, p.config_map, _request_timeout=TIMEOUT)
        else:
            kube.core.replace_namespaced_config_map(cm_name, ns, p.config_map, _request_timeout=TIMEOUT)
        cm_done = True
        stored = kube.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            PLURAL,
            p.name,
            p.job,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
            _request_timeout=TIMEOUT,
        )
        job_done = True
        if not isinstance(stored, dict) or not (stored.get("metadata") or {}).get("uid"):
            stored = get_job(kube, p.name)  # the client maps only 200 (not 201 Created) to a body
        ref = owner_reference(p.name, stored["metadata"]["uid"])
        kube.core.patch_namespaced_config_map(
            cm_name, ns, {"metadata": {"ownerReferences": [ref]}}, _content_type=MERGE, _request_timeout=TIMEOUT
        )
    except BaseException:
        _undo(kube, p, cm_done=cm_done, job_created=job_done and not job_existed, previous=previous)
        raise
    return previous is None, not job_existed


def _undo(kube: Kube, p: Prepared, *, cm_done: bool, job_created: bool, previous: Any) -> None:
    """Best effort: leave the namespace as it was before this submit."""
    steps: list[tuple[str, Callable[[], Any]]] = []
    if job_created:
        steps.append(
            (
                f"TFFlinkJob {p.name}",
                lambda: kube.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, p.namespace, PLURAL, p.name, _request_timeout=TIMEOUT
                ),
            )
        )
    if cm_done:
        cm_name = p.config_map["metadata"]["name"]
        if previous is None:
            steps.append(
                (
                    f"ConfigMap {cm_name}",
                    lambda: kube.core.delete_namespaced_config_map(cm_name, p.namespace, _request_timeout=TIMEOUT),
                )
            )
        else:
            steps.append((f"ConfigMap {cm_name} (restoring it)", lambda: _restore(kube, previous)))
    for what, step in steps:
        try:
            step()
        except Exception as e:  # noqa: BLE001 - report and go on with the rest
            _warn(f"could not undo {what}: {describe(e) or e}; delete it by hand")


def cmd_submit_kubernetes(args: argparse.Namespace) -> int:
    if args.flink_address or args.rendezvous:
        raise CliError(
            "--flink-address and --rendezvous are the pods' submitter options; "
            "tfflink submit --kubernetes does not take them",
            EXIT_INVALID,
        )
    p = prepare(args.job, args.namespace, args.exclude or [], lambda: _context_namespace(args.kubeconfig, args.context))
    for w in p.warnings:
        _warn(w)
    if args.dry_run:
        _dry_run(p)
        return EXIT_OK
    kube = connect(args)
    kube.namespace = p.namespace
    cm_created, job_created = apply(kube, p)
    cm_name, ns = p.config_map["metadata"]["name"], p.namespace
    print(
        f"configmap/{cm_name} {'created' if cm_created else 'replaced'}: {len(p.package.keys)} files, "
        f"{human(p.package.total)} ({_listing(p.package.keys, 8)}), mounted at {JOB_DIR} in the pods"
    )
    print(
        f"tfflinkjob.{GROUP}/{p.name} {'created' if job_created else 'configured'} in namespace {ns} "
        f"(spec.kubernetes.codeConfigMap: {cm_name}; deleting the job deletes the ConfigMap)"
    )
    print("Follow it with:")
    for c in (f"tfflink status {p.name} -n {ns}", f"tfflink logs {p.name} -n {ns} -f", f"tfflink ui {p.name} -n {ns}"):
        print(f"  {c}")
    return EXIT_OK


# --- status -------------------------------------------------------------------------------------


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def format_status(obj: dict[str, Any]) -> str:
    """A TFFlinkJob's status as text: phase, reason, restarts, roles, conditions, Flink job."""
    meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    max_restarts = (spec.get("failover") or {}).get("maxRestarts")
    phase = st.get("phase")
    lines = [f"Name:          {meta.get('name', '?')}", f"Namespace:     {meta.get('namespace', '?')}"]
    if not phase:
        lines.append(
            "Phase:         Pending (no status yet: the operator has not reported on this job; "
            "is it running and watching this namespace?)"
        )
    else:
        lines.append(f"Phase:         {phase}")
    if st.get("reason"):
        lines.append(f"Reason:        {st['reason']}")
    if st.get("message"):
        lines.append(f"Message:       {st['message']}")
    restarts = str(st.get("restartCount", 0)) + (f" of {max_restarts}" if max_restarts is not None else "")
    lines.append(f"Restarts:      {restarts}")
    if st.get("attempt"):
        lines.append(f"Attempt:       {st['attempt']}")
    lines.append(f"Flink job:     {st.get('flinkJobId') or '-'}")
    if st.get("taskManagers"):
        lines.append(f"TaskManagers:  {st['taskManagers']}")
    code = (spec.get("kubernetes") or {}).get("codeConfigMap")
    if code:
        lines.append(f"Code:          configmap/{code} at {JOB_DIR}")
    for key, label in (("startTime", "Started"), ("completionTime", "Completed")):
        if st.get(key):
            lines.append(f"{label + ':':<15}{st[key]}")
    progress = st.get("progress") or {}
    if isinstance(progress, dict) and progress.get("step") is not None:
        rate, ckpt = progress.get("stepsPerSecond"), progress.get("checkpointStep")
        lines.append(
            f"Progress:      step {progress['step']}"
            + (f", {rate} steps/s" if rate is not None else "")
            + (f", checkpoint at step {ckpt}" if ckpt is not None else "")
        )
    rows_st = st.get("rows")
    if isinstance(rows_st, dict):
        counts = {k: v for k, v in rows_st.items() if k != "inputGuarantee" and type(v) is int}
        guarantee = rows_st.get("inputGuarantee")
        lines.append(f"Rows:          {counts_text(counts, guarantee if isinstance(guarantee, str) else None)}")
    roles = st.get("roles") or {}
    if roles:
        lines.append("Roles:")
        order = sorted(roles, key=lambda r: TF_ROLES.index(r) if r in TF_ROLES else len(TF_ROLES))
        rows = [["ROLE", "DESIRED", "RUNNING", "SUCCEEDED", "FAILED"]]
        rows += [
            [r] + [str((roles[r] or {}).get(k, 0)) for k in ("desired", "running", "succeeded", "failed")]
            for r in order
        ]
        lines += _table(rows)
    conds = st.get("conditions") or []
    if conds:
        lines.append("Conditions:")
        rows = [["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]]
        rows += [
            [
                c.get("type", "?"),
                c.get("status", "?"),
                c.get("reason") or "-",
                c.get("lastTransitionTime") or "-",
                c.get("message") or "",
            ]
            for c in conds
        ]
        lines += _table(rows)
    return "\n".join(lines)


def status_json(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"name": meta.get("name"), "namespace": meta.get("namespace"), "status": obj.get("status") or {}}


def cmd_status(args: argparse.Namespace) -> int:
    kube = connect(args)
    obj = get_job(kube, args.name)
    print(json.dumps(status_json(obj), indent=2) if args.output == "json" else format_status(obj), flush=True)
    return EXIT_OK


# --- logs ---------------------------------------------------------------------------------------


def node_line(line: str, role: str | None = None, index: int | None = None) -> bool:
    """A TF node's line (``[worker-1] ...``), of ``role``/``index`` when given."""
    m = NODE_LINE.match(line)
    return m is not None and (role is None or m["role"] == role) and (index is None or int(m["index"]) == index)


def filter_node_lines(lines: Iterable[str], role: str | None = None, index: int | None = None) -> list[str]:
    return [ln for ln in lines if node_line(ln, role, index)]


def pod_selector(job: str, attempt: int) -> str:
    """The TaskManager pods of one attempt: where the TF nodes run and print."""
    return f"{JOB_LABEL}={job},{COMPONENT_LABEL}={TASKMANAGER},{ATTEMPT_LABEL}={attempt}"


def _container(pod: Any) -> str | None:
    names = [c.name for c in (pod.spec.containers or [])]
    return TASKMANAGER if TASKMANAGER in names else (names[0] if names else None)


class LogPrinter:
    """Prints the kept node lines of several pods; remembers each pod's last timestamp so a
    re-read of the same log (a stream reopened) prints nothing twice."""

    def __init__(self, keep: Callable[[str], bool], out: Any = None) -> None:
        self.keep, self.out = keep, out or sys.stdout
        self.last: dict[str, str] = {}
        self.warned: set[str] = set()
        self.lock = threading.Lock()

    def warn_once(self, msg: str) -> None:
        """A stream's failure, said once (a follow retries the pod every few seconds)."""
        with self.lock:
            if msg not in self.warned:
                self.warned.add(msg)
                _warn(msg)

    def feed(self, pod: str, raw: str) -> None:
        """One line as the API returns it with timestamps=True: ``<RFC3339> <text>``."""
        ts, _, text = raw.partition(" ")
        with self.lock:
            if pod in self.last and ts <= self.last[pod]:
                return
            self.last[pod] = ts
            if self.keep(text):
                print(text, file=self.out, flush=True)

    def stream(self, pod: str, chunks: Iterable[bytes]) -> None:
        """Feed a byte stream's lines (chunks split anywhere)."""
        buf = b""
        for chunk in chunks:
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self.feed(pod, line.decode(errors="replace").rstrip("\r"))
        if buf:
            self.feed(pod, buf.decode(errors="replace").rstrip("\r"))


def _read_once(kube: Kube, pods: list[Any], keep: Callable[[str], bool]) -> None:
    """Every pod's log so far, merged in time order."""
    merged: list[tuple[str, int, int, str]] = []
    for i, pod in enumerate(pods):
        try:
            text = kube.core.read_namespaced_pod_log(
                pod.metadata.name, kube.namespace, container=_container(pod), timestamps=True, _request_timeout=TIMEOUT
            )
        except Exception as e:
            if not _is_status(e, 400):  # 400: the container has not started yet
                raise
            _warn(f"pod {pod.metadata.name}: {_status_body(e).get('message') or e}")
            continue
        for j, raw in enumerate((text or "").splitlines()):
            ts, _, line = raw.partition(" ")
            if keep(line):
                merged.append((ts, i, j, line))
    for *_, line in sorted(merged):
        print(line, flush=True)


def _follow_pod(kube: Kube, pod: Any, printer: LogPrinter, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            resp = kube.core.read_namespaced_pod_log(
                pod.metadata.name,
                kube.namespace,
                container=_container(pod),
                follow=True,
                timestamps=True,
                _preload_content=False,
            )
        except Exception as e:  # noqa: BLE001 - any API failure ends this pod's follow with one warning
            if _is_status(e, 400):  # not started yet
                stop.wait(2)
                continue
            if not _is_status(e, 404):
                printer.warn_once(f"pod {pod.metadata.name}: {describe(e) or e}")
            return
        try:
            printer.stream(pod.metadata.name, resp.stream(8192))
        except Exception as e:  # noqa: BLE001 - a dropped stream: the pod went away or the network did
            log.debug("log stream of %s ended: %s", pod.metadata.name, e)
        finally:
            resp.release_conn()
        return


def _pods(kube: Kube, name: str, attempt: int) -> list[Any]:
    pods = kube.core.list_namespaced_pod(
        kube.namespace, label_selector=pod_selector(name, attempt), _request_timeout=TIMEOUT
    ).items
    return sorted(pods, key=lambda p: p.metadata.name)


def cmd_logs(args: argparse.Namespace) -> int:
    kube = connect(args)

    def keep(line: str) -> bool:
        return node_line(line, args.role, args.index)

    st = get_job(kube, args.name).get("status") or {}
    attempt, phase = int(st.get("attempt") or 0), st.get("phase") or "Pending"
    if not args.follow:
        pods = _pods(kube, args.name, attempt) if attempt else []
        if not pods:
            raise CliError(
                f"job {args.name} has no TaskManager pods{f' of attempt {attempt}' if attempt else ''} "
                f"(phase {phase}); nothing to show yet (tfflink status {args.name})"
            )
        _read_once(kube, pods, keep)
        return EXIT_OK
    printer, stop = LogPrinter(keep), threading.Event()
    streams: dict[str, threading.Thread] = {}
    shown_attempt, ended_at = 0, None
    try:
        while True:
            if attempt and attempt != shown_attempt:
                if shown_attempt:
                    print(
                        f"tfflink: {args.name}: attempt {attempt} (restart {st.get('restartCount', '?')})",
                        file=sys.stderr,
                        flush=True,
                    )
                shown_attempt = attempt
            for pod in _pods(kube, args.name, attempt) if attempt else []:
                t = streams.get(pod.metadata.name)
                # new, or its stream ended while the job goes on (its container restarted?)
                if t is None or (not t.is_alive() and phase not in TERMINAL):
                    t = threading.Thread(target=_follow_pod, args=(kube, pod, printer, stop), daemon=True)
                    streams[pod.metadata.name] = t
                    t.start()
            if phase in TERMINAL:
                ended_at = ended_at or time.monotonic()
                alive = [t for t in streams.values() if t.is_alive()]
                if not alive or time.monotonic() - ended_at > 5:
                    print(f"tfflink: {args.name}: {phase}", file=sys.stderr, flush=True)
                    return EXIT_OK
            time.sleep(2)
            st = get_job(kube, args.name).get("status") or {}
            attempt, phase = int(st.get("attempt") or 0), st.get("phase") or "Pending"
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is how a follow ends
    finally:
        stop.set()


# --- ui -----------------------------------------------------------------------------------------


def port_forward_command(
    kubectl: str, job: str, namespace: str, port: int, kubeconfig: str | None = None, context: str | None = None
) -> list[str]:
    cmd = [kubectl]
    cmd += ["--kubeconfig", kubeconfig] if kubeconfig else []
    cmd += ["--context", context] if context else []
    return cmd + ["port-forward", "-n", namespace, f"svc/{jobmanager_service(job)}", f"{port}:{REST_PORT}"]


def cmd_ui(args: argparse.Namespace) -> int:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise CliError(
            "kubectl not found on PATH: tfflink ui runs `kubectl port-forward`; install kubectl "
            "(https://kubernetes.io/docs/tasks/tools/)"
        )
    kube = connect(args)
    st = get_job(kube, args.name).get("status") or {}
    svc = jobmanager_service(args.name)
    try:
        kube.core.read_namespaced_service(svc, kube.namespace, _request_timeout=TIMEOUT)
    except Exception as e:
        if _is_status(e, 404):
            raise CliError(
                f"job {args.name} has no JobManager Service {svc} (phase {st.get('phase') or 'Pending'}); "
                f"it exists while the session cluster does (tfflink status {args.name})"
            ) from None
        raise
    cmd = port_forward_command(kubectl, args.name, kube.namespace, args.port, args.kubeconfig, args.context)
    log.debug("running %s", cmd)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(proc.stderr or []), daemon=True)
    drain.start()
    try:
        for line in proc.stdout or []:
            if line.startswith("Forwarding from") and "[::1]" not in line:
                print(f"Flink UI of {args.name}: http://localhost:{args.port}  (Ctrl-C to stop)", flush=True)
            else:
                log.debug("kubectl: %s", line.rstrip())
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        return EXIT_OK
    drain.join(2)
    last = next((e.strip() for e in reversed(errors) if e.strip()), "")
    raise CliError(f"kubectl port-forward ended ({rc}){': ' + last if last else ''}")


# --- the parser ---------------------------------------------------------------------------------


def _cluster_options(p: argparse.ArgumentParser | Any) -> None:
    p.add_argument("-n", "--namespace", help="namespace (default: the kube context's, else default)")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
    p.add_argument("--context", help="kube context (default: the current one)")


def add_commands(sub: Any) -> None:
    """Add ``--kubernetes`` to ``tfflink submit`` and the ``status``, ``logs``, ``ui`` commands."""
    s = sub.choices["submit"]
    g = s.add_argument_group("on Kubernetes (tfflink submit --kubernetes job.yaml)")
    g.add_argument(
        "--kubernetes",
        action="store_true",
        help="deliver the job's directory as ConfigMap <name>-code and apply the TFFlinkJob",
    )
    _cluster_options(g)
    g.add_argument("--dry-run", action="store_true", help="print what would be created; create nothing")
    g.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="leave files/directories matching GLOB out of the code ConfigMap (repeatable)",
    )
    pods_submit = s.get_default("fn")

    def submit(args: argparse.Namespace) -> int:
        if args.kubernetes:
            return guarded(cmd_submit_kubernetes)(args)
        used = [
            o
            for o, v in (
                ("--namespace", args.namespace),
                ("--kubeconfig", args.kubeconfig),
                ("--context", args.context),
                ("--dry-run", args.dry_run),
                ("--exclude", args.exclude),
            )
            if v
        ]
        if used:
            _err(f"submit: {', '.join(used)} only with --kubernetes")
            return EXIT_INVALID
        return int(pods_submit(args))

    s.set_defaults(fn=submit)

    st = sub.add_parser("status", help="a TFFlinkJob's phase, restarts, roles and conditions")
    st.add_argument("name", help="TFFlinkJob name")
    _cluster_options(st)
    st.add_argument("-o", "--output", choices=("text", "json"), default="text")
    st.set_defaults(fn=guarded(cmd_status))

    lg = sub.add_parser("logs", help="the TF nodes' lines ([worker-1] ...) of a TFFlinkJob's current attempt")
    lg.add_argument("name", help="TFFlinkJob name")
    _cluster_options(lg)
    lg.add_argument("--role", choices=TF_ROLES, help="only this role's nodes")
    lg.add_argument("--index", type=int, metavar="N", help="only node N (of --role, or of every role)")
    lg.add_argument("-f", "--follow", action="store_true", help="keep streaming, across restarts, until the job ends")
    lg.set_defaults(fn=guarded(cmd_logs))

    ui = sub.add_parser("ui", help="port-forward a TFFlinkJob's Flink UI/REST to localhost (kubectl port-forward)")
    ui.add_argument("name", help="TFFlinkJob name")
    _cluster_options(ui)
    ui.add_argument("--port", type=int, default=REST_PORT, help=f"local port (default {REST_PORT})")
    ui.set_defaults(fn=guarded(cmd_ui))
