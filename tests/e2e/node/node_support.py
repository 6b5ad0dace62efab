"""The test-facing handle of the real-node cluster (see conftest.py for the fixture API)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from realnode import (
    NODE_IP,
    OP_NS,
    OPERATOR_IMAGE,
    RELEASE,
    RUNTIME_IMAGE,
    STORAGE_CLASS,
    NodeCluster,
    node_binaries,
)

from tests.support.waiting import wait_for

T = TypeVar("T")


class Node:
    runtime_image = RUNTIME_IMAGE
    operator_image = OPERATOR_IMAGE
    operator_namespace = OP_NS
    release = RELEASE
    storage_class = STORAGE_CLASS
    node_ip = NODE_IP

    def __init__(self) -> None:
        self.cluster: NodeCluster | None = None
        self.up = False
        self.start_error: BaseException | None = None
        self.last_leftovers: list[str] = []
        self.all_timings: list[dict[str, float]] = []

    # ---------------------------------------------------------------- lifecycle
    def ensure_up(self) -> None:
        if self.up:
            assert self.cluster is not None
            self.cluster.check_alive()
            return
        if self.start_error is not None:  # don't retry a broken start for every test
            raise RuntimeError(f"the node cluster failed to start earlier: {self.start_error}")
        try:
            bins = node_binaries()
            self.cluster = NodeCluster(bins, helm=bins.get("helm"))
            self.cluster.start()
        except BaseException as e:
            self.start_error = e
            raise
        self.up = True

    def stop(self) -> list[str]:
        """Tear down; returns what is left on the host (empty when clean)."""
        if self.cluster is None:
            return []
        self.cluster.stop()
        self.up = False
        self.last_leftovers = self.cluster.leftovers()
        self.all_timings.append(dict(self.cluster.timings))
        self.cluster = None
        return self.last_leftovers

    def stop_and_check(self) -> None:
        left = self.stop()
        assert not left, f"the node tier left things on the host: {left}"

    @property
    def c(self) -> NodeCluster:
        assert self.cluster is not None and self.up, "node cluster not running"
        return self.cluster

    @property
    def kubeconfig(self) -> Path:
        return self.c.kubeconfig

    @property
    def server(self) -> str:
        return self.c.server

    @property
    def timings(self) -> dict[str, float]:
        return dict(self.c.timings)

    @property
    def logs_dir(self) -> Path:
        return self.c.logs

    # ---------------------------------------------------------------- kubectl helpers
    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> str:
        return self.c.kubectl(*args, stdin=stdin, check=check, timeout=timeout)

    def apply(self, doc: str | dict[str, Any] | list[dict[str, Any]], ns: str | None = None) -> str:
        """kubectl apply of a YAML string, one object, or a list of objects."""
        if isinstance(doc, list):
            text = yaml.safe_dump_all(doc)
        elif isinstance(doc, dict):
            text = yaml.safe_dump(doc)
        else:
            text = doc
        return self.kubectl(*(["-n", ns] if ns else []), "apply", "-f", "-", stdin=text)

    def get(self, kind: str, name: str | None = None, ns: str | None = "default", selector: str = "") -> Any:
        """One object (None when absent) when ``name`` is given, else the list of items.
        ``ns=None``: cluster-scoped for a name (pv, node), all namespaces for a list."""
        where = ["-n", ns] if ns else ([] if name else ["-A"])
        args = ["get", kind] + ([name] if name else []) + where + ["-o", "json"]
        if selector:
            args += ["-l", selector]
        if name:
            out = self.kubectl(*args, "--ignore-not-found")
            return json.loads(out) if out.strip() else None
        return json.loads(self.kubectl(*args))["items"]

    def namespace(self, name: str) -> str:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        self.wait_for(
            lambda: self.kubectl("-n", name, "get", "sa", "default", check=False).startswith("NAME"),
            f"namespace {name}'s default ServiceAccount",
        )
        return name

    def wait_for(
        self, fn: Callable[[], T], what: str | Callable[[], str], timeout: float = 60, interval: float = 1
    ) -> T:
        """tests.support.waiting.wait_for, failing at once if a node component died."""
        return wait_for(fn, what, timeout, interval, check=self.c.check_alive)

    def pod_phase(self, name: str, ns: str = "default") -> str | None:
        pod = self.get("pod", name, ns)
        return (pod or {}).get("status", {}).get("phase")

    def wait_pod_phase(
        self, name: str, ns: str = "default", phases: tuple[str, ...] = ("Succeeded", "Failed"), timeout: float = 120
    ) -> str:
        return self.wait_for(
            lambda: (p := self.pod_phase(name, ns)) in phases and p,
            lambda: (
                f"pod {ns}/{name} in {phases} (now {self.pod_phase(name, ns)}):\n{self.describe('pod/' + name, ns)}"
            ),
            timeout,
        )

    def run_pod(
        self,
        name: str,
        command: list[str],
        ns: str = "default",
        image: str | None = None,
        timeout: float = 180,
        **spec: Any,
    ) -> tuple[str, str]:
        """Run a one-shot pod to completion; returns (phase, logs). The pod is deleted after."""
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "main",
                        "image": image or self.runtime_image,
                        "imagePullPolicy": "Never",
                        "command": command,
                    }
                ],
                **spec,
            },
        }
        self.apply(pod)
        try:
            phase = self.wait_pod_phase(name, ns, timeout=timeout)
            return phase, self.logs(name, ns)
        finally:
            self.kubectl("-n", ns, "delete", "pod", name, "--wait=false", "--ignore-not-found", check=False)

    def logs(self, pod: str, ns: str = "default", container: str | None = None, tail: int | None = None) -> str:
        args = ["-n", ns, "logs", pod] + (["-c", container] if container else []) + ([f"--tail={tail}"] if tail else [])
        return self.kubectl(*args, check=False)

    def operator_logs(self, tail: int = 200) -> str:
        return self.kubectl(
            "-n", OP_NS, "logs", f"deployment/{RELEASE}-tfflink-operator", f"--tail={tail}", check=False
        )

    def events(self, ns: str = "default", all_namespaces: bool = False) -> str:
        where = ["-A"] if all_namespaces else ["-n", ns]
        return self.kubectl(*where, "get", "events", "--sort-by=.lastTimestamp", check=False)

    def describe(self, what: str, ns: str = "default") -> str:
        return self.kubectl("-n", ns, "describe", what, check=False)[-5000:]

    def pvc(self, name: str, ns: str = "default", size: str = "1Gi") -> Path:
        return self.c.pvc(name, ns, size)

    def helm_upgrade(self, *sets: str) -> str:
        return self.c.helm_install(sets)
