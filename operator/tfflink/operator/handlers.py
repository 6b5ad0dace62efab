"""The kopf handlers: thin glue between kopf and :mod:`tfflink.operator.reconciler`.

Run with ``kopf run -m tfflink.operator.handlers`` (settings from TFFLINK_* variables) or
``python -m tfflink.operator`` (command-line flags; the only way with leader election,
``--leader-elect``, which the chart uses: more than one replica needs it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from ..backends.kubernetes import names as n
from ..backends.kubernetes.api import KubeApi, load_client
from ..backends.kubernetes.flink import FlinkClient
from ..backends.kubernetes.observe import ObjectFact, fact
from ..lifecycle.reconcile import Event
from . import reconciler
from .config import OperatorConfig
from .metrics import Metrics

log = logging.getLogger(__name__)
# label selector for kopf: a value or kopf.PRESENT (whose type kopf does not export). Only the
# attempts' objects: the per-job TensorBoard would count as a stale attempt's.
OWNED: dict[str, Any] = {n.MANAGED_BY: n.MANAGED_BY_VALUE, n.JOB: kopf.PRESENT, n.ATTEMPT: kopf.PRESENT}
JOBS = (n.GROUP, n.VERSION, n.PLURAL)


def _key(namespace: str | None, name: str) -> reconciler.Key:
    """(namespace, name). kopf types ``namespace`` optional for cluster-scoped kinds; every kind
    handled here (TFFlinkJobs, pods, deployments, jobs) is namespaced, so it is always set."""
    assert namespace is not None, f"{name}: a namespaced object without a namespace"
    return namespace, name


def _deps(memo: kopf.Memo) -> reconciler.Deps:
    deps: reconciler.Deps = memo["deps"]
    return deps


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Settings (storage under tfflink.dev, watch timeouts) and the shared clients."""
    config: OperatorConfig = memo.get("config") or OperatorConfig.from_env()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=n.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=n.GROUP, key="last-handled-configuration"
    )
    settings.watching.server_timeout = config.watch_timeout_seconds
    settings.watching.client_timeout = config.watch_timeout_seconds + 30
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.posting.level = logging.INFO
    settings.scanning.disabled = True
    settings.peering.standalone = True
    metrics = Metrics()
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    api = KubeApi(load_client(), workers=config.api_workers, field_manager=config.field_manager)
    memo["deps"] = reconciler.Deps(
        api=api, flink=FlinkClient(config.flink_url_template), config=config, metrics=metrics
    )


FINALIZER = f"{n.GROUP}/finalizer"


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """On exit, release our finalizer: with no operator running (``helm uninstall``, a crash
    loop), ``kubectl delete tfj`` must still work; owner references clean up the cluster, and
    the next operator to start adds the finalizer again."""
    deps = memo.get("deps")
    if deps is not None:
        try:
            released = await asyncio.wait_for(deps.api.release_finalizer(deps.config.namespaces, FINALIZER), 15)
            log.info("released the finalizer of %d TFFlinkJob(s)", released)
        except Exception as e:  # noqa: BLE001 - exiting anyway
            log.warning("could not release the TFFlinkJobs' finalizers: %s", e)
        await deps.flink.close()
        deps.api.close()


@kopf.on.probe(id="jobs")
def jobs_probe(memo: kopf.Memo, **_: Any) -> int:
    return len(_deps(memo).wakeups)


@kopf.index("pods", labels=OWNED)
def tfflink_pods(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, ObjectFact]:
    return {_key(namespace, labels[n.JOB]): fact("Pod", body)}


@kopf.index("apps", "v1", "deployments", labels=OWNED)
def tfflink_deployments(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, ObjectFact]:
    return {_key(namespace, labels[n.JOB]): fact("Deployment", body)}


@kopf.index("batch", "v1", "jobs", labels=OWNED)
def tfflink_submitters(namespace: str | None, labels: kopf.Labels, body: kopf.Body, **_: Any) -> dict[Any, ObjectFact]:
    return {_key(namespace, labels[n.JOB]): fact("Job", body)}


@kopf.on.event("pods", labels=OWNED)
def pod_event(
    event: kopf.RawEvent, namespace: str | None, name: str, labels: kopf.Labels, memo: kopf.Memo, **_: Any
) -> None:
    """Wake the job's loop; remember deleted pods (their index entries vanish)."""
    deps, key = _deps(memo), _key(namespace, labels[n.JOB])
    if event["type"] == "DELETED" and labels.get(n.COMPONENT) != n.SUBMITTER and key in deps.wakeups:
        deps.deleted_pods.setdefault(key, []).append((labels.get(n.JOB_UID, ""), n.attempt_of(labels), name))
    deps.wake(key)


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("batch", "v1", "jobs", labels=OWNED)
def owned_event(namespace: str | None, labels: kopf.Labels, memo: kopf.Memo, **_: Any) -> None:
    _deps(memo).wake(_key(namespace, labels[n.JOB]))


@kopf.on.event(*JOBS)
def job_event(namespace: str | None, name: str, memo: kopf.Memo, **_: Any) -> None:
    """Spec changes (suspend, resume, edits) wake the job's loop at once."""
    _deps(memo).wake(_key(namespace, name))


# kopf passes the indices by their names as extra keyword arguments, which its DaemonFn protocol
# cannot express (it allows only **kwargs beyond its own).
@kopf.daemon(*JOBS, cancellation_timeout=10.0)  # type: ignore[arg-type]
async def supervise(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    tfflink_pods: kopf.Index[Any, ObjectFact],
    tfflink_deployments: kopf.Index[Any, ObjectFact],
    tfflink_submitters: kopf.Index[Any, ObjectFact],
    **_: Any,
) -> None:
    """The job's supervision loop (see :mod:`tfflink.operator.reconciler`)."""
    key = _key(namespace, name)

    def facts() -> list[ObjectFact]:
        return [f for idx in (tfflink_pods, tfflink_deployments, tfflink_submitters) for f in idx.get(key, [])]

    def post(ev: Event) -> None:
        kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message)

    await reconciler.supervise(_deps(memo), body=body, facts=facts, post=post, stopped=stopped)


@kopf.on.delete(*JOBS, optional=True)
async def deleted(namespace: str | None, name: str, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Best effort, bounded: remove the owned objects now (GC would too); never block deletion."""
    deps, key = _deps(memo), _key(namespace, name)
    deps.metrics.phase(key, None)
    deps.deleted_pods.pop(key, None)
    try:
        await asyncio.wait_for(deps.api.delete_owned(*key), timeout=10)
    except Exception as e:  # noqa: BLE001 - a broken cluster must not keep the job Terminating
        logger.warning("could not delete the objects of %s/%s (%s); garbage collection will", namespace, name, e)
