"""A Kubernetes API *stand-in* for the emulator tier: kmock's KubernetesEmulator, fixed.

This is not a cluster. kmock 0.8 serves the Kubernetes API over real HTTP (its scaffold does
discovery, request parsing and error bodies), but its object store lacks what kopf, the
official client and the operator rely on (see DESIGN.md). :class:`KubeStandIn` replaces that
store with one that has:

- uid, resourceVersion (one global counter), generation (bumped on spec changes),
  creationTimestamp, the namespace taken from the URL, 201 on create, 409 on conflicts;
- merge, strategic-merge (treated as merge) and JSON patches, with 422 on a failed ``test``;
  PUT with resourceVersion conflicts; ``/status`` subresource semantics;
- label and field selectors on list, watch and delete-collection; ``kind`` on lists;
- watches resumed from a resourceVersion (an event log, 410 Gone when too old), server-side
  ``timeoutSeconds``; finalizers and deletionTimestamp;
- garbage collection by ownerReferences (immediate, cascading);
- controller stand-ins: a Deployment creates and replaces its pods and reports readyReplicas.
  With ``autopilot`` on, a kubelet stand-in also makes new pods Running/Ready and completes
  Jobs (for the benchmark); tests otherwise drive pods and Jobs through the API themselves.

Fault injection: ``faults`` holds callables ``(method, path) -> HTTP status | None``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import rendering

Obj = dict[str, Any]
Key = tuple[str, str | None, str]  # (resource, namespace, name)

RESOURCES: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    # resource: (kind, namespaced, subresources)
    "v1/pods": ("Pod", True, ("status",)),
    "v1/services": ("Service", True, ("status",)),
    "v1/configmaps": ("ConfigMap", True, ()),
    "v1/secrets": ("Secret", True, ()),
    "v1/serviceaccounts": ("ServiceAccount", True, ()),
    "v1/events": ("Event", True, ()),
    "v1/namespaces": ("Namespace", False, ("status",)),
    "apps/v1/deployments": ("Deployment", True, ("status",)),
    "batch/v1/jobs": ("Job", True, ("status",)),
    "rbac.authorization.k8s.io/v1/roles": ("Role", True, ()),
    "rbac.authorization.k8s.io/v1/rolebindings": ("RoleBinding", True, ()),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True, ()),
    "networking.k8s.io/v1/ingresses": ("Ingress", True, ("status",)),
    "events.k8s.io/v1/events": ("Event", True, ()),
    "tfflink.dev/v1alpha1/tfflinkjobs": ("TFFlinkJob", True, ("status",)),
}
VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
LOG_SIZE = 200_000


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rkey(res: Any) -> str:
    return f"{res.group}/{res.version}/{res.plural}" if res.group else f"{res.version}/{res.plural}"


def _api_version(rkey: str) -> str:
    return rkey.rsplit("/", 1)[0]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class PatchTestFailed(Exception):
    pass


def json_patch(doc: Any, ops: list[Obj]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1] if parts else None
        kind = op["op"]
        if kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if cur != op.get("value"):
                raise PatchTestFailed(op["path"])
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
    return doc


_TERM = re.compile(r"\s*([^,!=\s()]+)\s*(notin|in)\s*\(([^)]*)\)\s*|\s*(!?)([^,!=\s]+)\s*(?:(==|=|!=)\s*([^,\s]*))?\s*")


def label_match(selector: str | None, labels: dict[str, str]) -> bool:
    """Equality- and set-based label selectors, as the API server understands them."""
    if not selector:
        return True
    pos = 0
    while pos < len(selector):
        m = _TERM.match(selector, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"bad selector {selector!r}")
        pos = m.end() + (1 if m.end() < len(selector) and selector[m.end()] == "," else 0)
        if m.group(1):
            values = {v.strip() for v in m.group(3).split(",")}
            present = m.group(1) in labels and labels[m.group(1)] in values
            if present != (m.group(2) == "in"):
                return False
            continue
        neg, key, op, value = m.group(4), m.group(5), m.group(6), m.group(7)
        if op is None:
            if (key in labels) == bool(neg):
                return False
        elif op in ("=", "=="):
            if labels.get(key) != value:
                return False
        elif labels.get(key) == value:
            return False
    return True


def field_match(selector: str | None, obj: Obj) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        neg = key.endswith("!")
        node: Any = obj
        for part in key.rstrip("!").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if (str(node) == value) == neg:
            return False
    return True


class KubeStandIn(kmock.KubernetesEmulator):
    """The emulator tier's Kubernetes API stand-in (see the module docstring)."""

    def __init__(self, *, autopilot: bool = False) -> None:
        super().__init__()
        for rkey, (kind, namespaced, subs) in RESOURCES.items():
            self.resources[rkey] = kmock.ResourceInfo(
                kind=kind,
                namespaced=namespaced,
                subresources=set(subs),
                verbs=VERBS,
                singular=kind.lower(),
                shortnames={"tfj"} if kind == "TFFlinkJob" else set(),
            )
        self.store: dict[Key, Obj] = {}
        self.rv = 0
        self.log: dict[str, collections.deque[tuple[int, Obj]]] = collections.defaultdict(
            lambda: collections.deque(maxlen=LOG_SIZE)
        )
        self.subscribers: dict[str, set[asyncio.Queue[Obj]]] = collections.defaultdict(set)
        self.faults: list[Callable[[str, str], int | None]] = []
        self.autopilot = autopilot
        self.on_create: list[Callable[[str, Obj], None]] = []

    # -- store ------------------------------------------------------------------------------
    def _emit(self, rkey: str, type_: str, obj: Obj) -> None:
        ev = {"type": type_, "object": copy.deepcopy(obj)}
        self.log[rkey].append((self.rv, ev))
        for q in self.subscribers[rkey]:
            q.put_nowait(ev)

    def _bump(self, obj: Obj) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def create(self, rkey: str, namespace: str | None, body: Obj) -> Obj:
        kind, namespaced, subs = RESOURCES[rkey]
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if namespaced:
            meta["namespace"] = namespace or meta.get("namespace") or "default"
        key = (rkey, meta.get("namespace"), meta["name"])
        if key in self.store:
            raise kmock.KubernetesError(409, "AlreadyExists", f'{rkey} "{meta["name"]}" already exists')
        obj["apiVersion"], obj["kind"] = _api_version(rkey), kind
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        meta.pop("deletionTimestamp", None)
        if rkey == "tfflink.dev/v1alpha1/tfflinkjobs":
            obj.pop("status", None)
        if kind == "Pod":
            obj.setdefault("status", {"phase": "Pending"})
        self._bump(obj)
        self.store[key] = obj
        self._emit(rkey, "ADDED", obj)
        self._after_create(rkey, obj)
        return obj

    def update(self, key: Key, new: Obj, *, subresource: str | None = None) -> Obj:
        rkey = key[0]
        old = self.store[key]
        has_status = "status" in RESOURCES[rkey][2]
        if subresource == "status":
            new = {**old, "status": new.get("status")}
        elif has_status:
            new = {**new, "status": old.get("status")}
        new = {k: v for k, v in new.items() if v is not None}
        meta = new.setdefault("metadata", {})
        for fixed in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp", "generation"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
            else:
                meta.pop(fixed, None)
        if subresource is None and new.get("spec") != old.get("spec"):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        if new == old:
            return old
        self._bump(new)
        self.store[key] = new
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key)
            return new
        self._emit(rkey, "MODIFIED", new)
        self._after_update(rkey, old, new)
        return new

    def delete(self, key: Key) -> Obj:
        obj = self.store[key]
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = _now()
                self._bump(obj)
                self.store[key] = obj
                self._emit(key[0], "MODIFIED", obj)
            return obj
        self._remove(key)
        return obj

    def _remove(self, key: Key) -> None:
        obj = self.store.pop(key)
        self._bump(obj)
        self._emit(key[0], "DELETED", obj)
        uid = obj["metadata"]["uid"]
        # Garbage collection: dependents of the removed object go too (cascading).
        for dep_key, dep in list(self.store.items()):
            refs = dep["metadata"].get("ownerReferences") or []
            if dep_key in self.store and any(r.get("uid") == uid for r in refs):
                self.delete(dep_key)
        self._after_remove(key, obj)

    def select(self, rkey: str, namespace: str | None, params: dict[str, str]) -> list[tuple[Key, Obj]]:
        return [
            (k, o)
            for k, o in self.store.items()
            if k[0] == rkey
            and (namespace is None or k[1] == namespace)
            and label_match(params.get("labelSelector"), o["metadata"].get("labels") or {})
            and field_match(params.get("fieldSelector"), o)
        ]

    # -- controller and kubelet stand-ins ------------------------------------------------------
    def _owner_ref(self, obj: Obj) -> Obj:
        return {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"],
            "controller": True,
        }

    def _new_pod(self, dep: Obj) -> None:
        tmpl = dep["spec"]["template"]
        pod = {
            "metadata": {
                "name": f"{dep['metadata']['name']}-{uuid.uuid4().hex[:5]}",
                "labels": dict(tmpl["metadata"].get("labels") or {}),
                "annotations": dict(tmpl["metadata"].get("annotations") or {}),
                "ownerReferences": [self._owner_ref(dep)],
            },
            "spec": copy.deepcopy(tmpl["spec"]),
        }
        if self.autopilot:
            pod["status"] = running_ready_status()
        self.create("v1/pods", dep["metadata"]["namespace"], pod)

    def _after_create(self, rkey: str, obj: Obj) -> None:
        if rkey == "apps/v1/deployments":
            for _ in range(int(obj["spec"].get("replicas", 1))):
                self._new_pod(obj)
            self._sync_deployment((rkey, obj["metadata"]["namespace"], obj["metadata"]["name"]))
        if rkey == "batch/v1/jobs" and self.autopilot:
            key = (rkey, obj["metadata"]["namespace"], obj["metadata"]["name"])
            self.update(key, {**self.store[key], "status": complete_job_status()}, subresource="status")
        for hook in self.on_create:
            hook(rkey, obj)

    def _owner(self, obj: Obj, kind: str, rkey: str) -> Key | None:
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == kind:
                return (rkey, obj["metadata"].get("namespace"), ref["name"])
        return None

    def _after_update(self, rkey: str, old: Obj, new: Obj) -> None:
        if rkey == "v1/pods" and old.get("status") != new.get("status"):
            dep = self._owner(new, "Deployment", "apps/v1/deployments")
            if dep in self.store:
                self._sync_deployment(dep)

    def _after_remove(self, key: Key, obj: Obj) -> None:
        if key[0] != "v1/pods":
            return
        dep_key = self._owner(obj, "Deployment", "apps/v1/deployments")
        dep = self.store.get(dep_key) if dep_key else None
        if dep is not None and dep_key is not None and not dep["metadata"].get("deletionTimestamp"):
            self._new_pod(dep)  # the ReplicaSet replaces a deleted pod
            if dep_key in self.store:
                self._sync_deployment(dep_key)

    def _sync_deployment(self, key: Key) -> None:
        dep = self.store[key]
        uid = dep["metadata"]["uid"]
        pods = [
            o
            for k, o in self.store.items()
            if k[0] == "v1/pods"
            and k[1] == key[1]
            and any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]
        ready = sum(
            any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
            for p in pods
        )
        status = {
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": dep["metadata"].get("generation", 1),
        }
        if dep.get("status") != status:
            self.update(key, {**dep, "status": status}, subresource="status")

    # -- HTTP ---------------------------------------------------------------------------------
    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        res = request.resource
        if res is None or not res.plural or res.version is None:
            return await super()._handle(request)  # discovery, /version: kmock's scaffold
        rkey = _rkey(res)
        method = request.method.value if hasattr(request.method, "value") else str(request.method)
        for fault in self.faults:
            code = fault(method, request.url.path)
            if code:
                return self._status(code, "InjectedFault", f"fault injected for {method} {request.url.path}")
        if rkey not in RESOURCES:
            return self._status(404, "NotFound", f"the server could not find the requested resource {rkey}")
        try:
            return await self._dispatch(request, rkey, method)
        except kmock.KubernetesError as e:
            return self._status(e.status, e.reason or "Error", e.message or "")

    def _status(self, code: int, reason: str, message: str) -> aiohttp.web.Response:
        body = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
        return aiohttp.web.json_response(body, status=code)

    async def _dispatch(self, request: rendering.Request, rkey: str, method: str) -> aiohttp.web.StreamResponse:
        ns, name, sub, params = request.namespace, request.name, request.subresource, dict(request.params)
        if method == "GET" and params.get("watch") in ("true", "1"):
            return await self._watch(request, rkey, ns, params)
        if method == "GET" and name is None:
            items = [copy.deepcopy(o) for _, o in self.select(rkey, ns, params)]
            return aiohttp.web.json_response(
                {
                    "apiVersion": _api_version(rkey),
                    "kind": RESOURCES[rkey][0] + "List",
                    "metadata": {"resourceVersion": str(self.rv)},
                    "items": items,
                }
            )
        if method == "POST" and name is None:
            return aiohttp.web.json_response(self.create(rkey, ns, request.data or {}), status=201)
        if method == "DELETE" and name is None:
            gone = [self.delete(k) for k, _ in self.select(rkey, ns, params) if k in self.store]
            return aiohttp.web.json_response({"apiVersion": _api_version(rkey), "kind": "List", "items": gone})
        assert name is not None
        key = (rkey, ns, name)
        if key not in self.store:
            raise kmock.KubernetesError(404, "NotFound", f'{rkey} "{name}" not found')
        if method == "GET":
            return aiohttp.web.json_response(self.store[key])
        if method == "DELETE":
            return aiohttp.web.json_response(self.delete(key))
        if method == "PUT":
            body = request.data or {}
            want = (body.get("metadata") or {}).get("resourceVersion")
            if want and want != self.store[key]["metadata"]["resourceVersion"]:
                raise kmock.KubernetesError(409, "Conflict", "the object has been modified")
            return aiohttp.web.json_response(self.update(key, body, subresource=sub))
        if method == "PATCH":
            ctype = request.headers.get("Content-Type", "")
            try:
                if "json-patch" in ctype:
                    new = json_patch(self.store[key], request.data or [])
                else:  # merge and strategic merge (lists are replaced: a stand-in)
                    new = merge_patch(self.store[key], request.data or {})
            except PatchTestFailed as e:
                raise kmock.KubernetesError(422, "Invalid", f"the JSON patch test failed at {e}") from None
            return aiohttp.web.json_response(self.update(key, new, subresource=sub))
        raise kmock.KubernetesError(405, "MethodNotAllowed", method)

    async def _watch(
        self, request: rendering.Request, rkey: str, ns: str | None, params: dict[str, str]
    ) -> aiohttp.web.StreamResponse:
        def wanted(ev: Obj) -> bool:
            o = ev["object"]
            return (
                (ns is None or o["metadata"].get("namespace") == ns)
                and label_match(params.get("labelSelector"), o["metadata"].get("labels") or {})
                and field_match(params.get("fieldSelector"), o)
            )

        since = params.get("resourceVersion")
        backlog: list[Obj]
        if since and since != "0":
            log = self.log[rkey]
            oldest = log[0][0] if log else self.rv + 1
            if log and len(log) == log.maxlen and int(since) < oldest:
                backlog = [
                    {
                        "type": "ERROR",
                        "object": {
                            "kind": "Status",
                            "apiVersion": "v1",
                            "code": 410,
                            "reason": "Expired",
                            "message": "too old resource version",
                        },
                    }
                ]
            else:
                backlog = [ev for rv, ev in log if rv > int(since) and wanted(ev)]
        else:
            backlog = [{"type": "ADDED", "object": copy.deepcopy(o)} for _, o in self.select(rkey, ns, params)]
        queue: asyncio.Queue[Obj] = asyncio.Queue()
        self.subscribers[rkey].add(queue)
        raw = request._raw_request
        resp = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(raw)
        timeout = float(params.get("timeoutSeconds") or 3600)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            for ev in backlog:
                await resp.write(json.dumps(ev).encode() + b"\n")
            if backlog and backlog[0]["type"] == "ERROR":
                return resp
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout=left)
                except TimeoutError:
                    break
                if wanted(ev):
                    await resp.write(json.dumps(ev).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.subscribers[rkey].discard(queue)
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    # -- helpers for tests --------------------------------------------------------------------
    def objects(self, rkey: str, namespace: str | None = None, selector: str | None = None) -> list[Obj]:
        """Stored objects (copies) of a resource, like ``kubectl get -l``."""
        params = {"labelSelector": selector} if selector else {}
        return [copy.deepcopy(o) for _, o in self.select(rkey, namespace, params)]


def running_ready_status() -> Obj:
    """What a kubelet reports for a started pod whose readiness probe passed."""
    return {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "containerStatuses": [container_status(name="main", ready=True, state={"running": {}})],
    }


def container_status(**fields: Any) -> Obj:
    """A container status with the fields the kubernetes client requires."""
    return {
        "name": "main",
        "image": "tfflink/runtime:0.1.0",
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        **fields,
    }


def complete_job_status() -> Obj:
    return {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}


def iter_keys(objs: Iterable[Obj]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)
