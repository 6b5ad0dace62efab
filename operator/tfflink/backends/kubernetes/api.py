"""The operator's few Kubernetes API calls, on the official client, off the event loop.

The client is synchronous; calls run in a dedicated thread pool so the kopf event loop keeps
serving watches. Creation is idempotent (409 means done), deletion of a missing object is
success, so every action can be repeated after a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar, cast

import kubernetes
from kubernetes.client import ApiException

from . import names as n

log = logging.getLogger(__name__)
T = TypeVar("T")
Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"  # server-side apply; the client sends the object as JSON
POD_GRACE_SECONDS = 5  # SIGTERM, then SIGKILL: a full restart need not wait for a clean shutdown


def load_client(*, pool_size: int = 32) -> kubernetes.client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    cfg = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=cfg)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=cfg)
    cfg.connection_pool_maxsize = pool_size
    return kubernetes.client.ApiClient(cfg)


class KubeApi:
    """Typed wrappers for the objects of a session cluster and the TFFlinkJob status."""

    def __init__(
        self,
        client: kubernetes.client.ApiClient,
        *,
        workers: int = 16,
        timeout: float = 30.0,
        field_manager: str = "tfflink-operator",
    ) -> None:
        self.client = client
        self.field_manager = field_manager  # in each object's managedFields: which replica wrote it
        self.core = kubernetes.client.CoreV1Api(client)
        self.apps = kubernetes.client.AppsV1Api(client)
        self.batch = kubernetes.client.BatchV1Api(client)
        self.rbac = kubernetes.client.RbacAuthorizationV1Api(client)
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.net = kubernetes.client.NetworkingV1Api(client)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube-api")
        self.timeout = timeout

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        kwargs.setdefault("_request_timeout", self.timeout)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def _creator(self, kind: str) -> Callable[..., Any]:
        creators: dict[str, Callable[..., Any]] = {
            "ConfigMap": self.core.create_namespaced_config_map,
            "Secret": self.core.create_namespaced_secret,
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Service": self.core.create_namespaced_service,
            "Role": self.rbac.create_namespaced_role,
            "RoleBinding": self.rbac.create_namespaced_role_binding,
            "Deployment": self.apps.create_namespaced_deployment,
            "Job": self.batch.create_namespaced_job,
            "NetworkPolicy": self.net.create_namespaced_network_policy,
            "Ingress": self.net.create_namespaced_ingress,
        }
        return creators[kind]

    async def create(self, obj: Obj, *, refresh: bool = False) -> bool:
        """Create ``obj``; True if it was new. An existing ConfigMap gets ``refresh``-ed data."""
        meta = obj["metadata"]
        try:
            await self._call(self._creator(obj["kind"]), meta["namespace"], obj, field_manager=self.field_manager)
            return True
        except ApiException as e:
            if e.status != 409:
                raise
        if refresh and obj["kind"] == "ConfigMap":
            await self._call(
                self.core.patch_namespaced_config_map,
                meta["name"],
                meta["namespace"],
                {"data": obj["data"]},
                field_manager=self.field_manager,
            )
        return False

    async def apply(self, obj: Obj) -> None:
        """Make ``obj`` what it says (server-side apply, forced: the operator owns the fields it sets).

        For the per-job objects that follow the spec (TensorBoard), unlike ``create``, which
        leaves an existing object as it was.
        """
        patchers: dict[str, Callable[..., Any]] = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "Service": self.core.patch_namespaced_service,
            "NetworkPolicy": self.net.patch_namespaced_network_policy,
        }
        meta = obj["metadata"]
        await self._call(
            patchers[obj["kind"]],
            meta["name"],
            meta["namespace"],
            obj,
            field_manager=self.field_manager,
            force=True,
            _content_type=APPLY,
        )

    async def delete_tensorboard(self, namespace: str, job: str) -> None:
        """The job's TensorBoard objects, when ``spec.tensorboard`` is gone (a missing one is fine)."""
        sel = f"{n.JOB}={job},{n.COMPONENT}={n.TENSORBOARD}"
        await asyncio.gather(
            self._call(
                self.apps.delete_collection_namespaced_deployment,
                namespace,
                label_selector=sel,
                propagation_policy="Background",
            ),
            self._call(self.net.delete_collection_namespaced_network_policy, namespace, label_selector=sel),
            self._delete_missing_ok(self.core.delete_namespaced_service, n.tensorboard(job), namespace),
        )

    async def _delete_missing_ok(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A delete call for which a missing object is success (every action may be repeated)."""
        try:
            await self._call(fn, *args, **kwargs)
        except ApiException as e:
            if e.status != 404:
                raise

    async def delete_cluster(self, namespace: str, job: str, *, keep_attempt: int | None) -> None:
        """Delete every attempt's Deployments, submitter Jobs, token Secrets and pods, except ``keep_attempt``."""
        sel = n.selector(job, keep_attempt=keep_attempt)
        opts = {"label_selector": sel, "propagation_policy": "Background"}
        await asyncio.gather(
            self._call(self.apps.delete_collection_namespaced_deployment, namespace, **opts),
            self._call(self.batch.delete_collection_namespaced_job, namespace, **opts),
            self._call(self.core.delete_collection_namespaced_secret, namespace, label_selector=sel),
        )
        # Pods go with their owners; deleting them directly makes a full restart prompt. Never
        # with grace 0 (a force delete): the pod object must outlive its processes, since the
        # next attempt starts only once the old pods are gone (fencing, lifecycle.reconcile).
        await self._call(
            self.core.delete_collection_namespaced_pod,
            namespace,
            label_selector=sel,
            grace_period_seconds=POD_GRACE_SECONDS,
        )

    async def delete_owned(self, namespace: str, job: str) -> None:
        """Everything the operator made for ``job`` (also garbage-collected by ownerReferences)."""
        sel = f"{n.JOB}={job},{n.MANAGED_BY}={n.MANAGED_BY_VALUE}"
        await self.delete_cluster(namespace, job, keep_attempt=None)
        await asyncio.gather(
            self._call(self.core.delete_collection_namespaced_config_map, namespace, label_selector=sel),
            self._call(self.core.delete_collection_namespaced_service_account, namespace, label_selector=sel),
            self._call(self.rbac.delete_collection_namespaced_role, namespace, label_selector=sel),
            self._call(self.rbac.delete_collection_namespaced_role_binding, namespace, label_selector=sel),
            self._call(self.net.delete_collection_namespaced_network_policy, namespace, label_selector=sel),
            self._call(self.net.delete_collection_namespaced_ingress, namespace, label_selector=sel),
            self._call(self.core.delete_namespaced_service, n.jobmanager_service(job), namespace),
            self.delete_tensorboard(namespace, job),
            return_exceptions=True,
        )

    async def patch_status(self, namespace: str, name: str, status: Obj) -> None:
        await self._call(
            self.custom.patch_namespaced_custom_object_status,
            n.GROUP,
            n.VERSION,
            namespace,
            n.PLURAL,
            name,
            {"status": status},
            _content_type=MERGE,
            field_manager=self.field_manager,
        )

    async def delete_job(self, namespace: str, name: str) -> None:
        await self._delete_missing_ok(
            self.custom.delete_namespaced_custom_object,
            n.GROUP,
            n.VERSION,
            namespace,
            n.PLURAL,
            name,
            propagation_policy="Background",
        )

    async def release_finalizer(self, namespaces: tuple[str, ...], finalizer: str) -> int:
        """Remove ``finalizer`` from every TFFlinkJob served; returns how many were released.

        Called when the operator stops: a job deleted while no operator runs must not hang in
        Terminating (its objects are owned by it, so the garbage collector removes them).
        """
        released = 0
        lists = (
            [
                await self._call(self.custom.list_namespaced_custom_object, n.GROUP, n.VERSION, ns, n.PLURAL)
                for ns in namespaces
            ]
            if namespaces
            else [await self._call(self.custom.list_cluster_custom_object, n.GROUP, n.VERSION, n.PLURAL)]
        )
        for item in (i for lst in lists for i in cast(dict[str, Any], lst).get("items", [])):
            meta = item.get("metadata", {})
            finalizers = meta.get("finalizers") or []
            if finalizer not in finalizers:
                continue
            patch = {
                "metadata": {
                    "finalizers": [f for f in finalizers if f != finalizer],
                    "resourceVersion": meta.get("resourceVersion"),
                }
            }
            try:
                await self._call(
                    self.custom.patch_namespaced_custom_object,
                    n.GROUP,
                    n.VERSION,
                    meta["namespace"],
                    n.PLURAL,
                    meta["name"],
                    patch,
                    _content_type=MERGE,
                )
                released += 1
            except ApiException as e:  # 404: gone; 409: changed meanwhile (kopf will see it next start)
                log.warning("could not release %s/%s: %s", meta.get("namespace"), meta.get("name"), e.reason)
        return released

    async def am_address(self, namespace: str, job: str) -> str | None:
        """The AM's ``host:port`` from the rendezvous ConfigMap, if published."""
        import json

        try:
            cm = await self._call(self.core.read_namespaced_config_map, n.rendezvous(job), namespace)
        except ApiException:
            return None
        raw = (cm.data or {}).get(n.RENDEZVOUS_KEY)
        if not raw:
            return None
        try:
            return str(json.loads(raw)["address"])
        except (ValueError, KeyError, TypeError):
            return str(raw)
