"""Operator scale benchmark: N TFFlinkJobs created at once against the emulator tier.

The operator runs as a real process (``python -m tfflink.operator``) against the Kubernetes API
stand-in and the Flink REST stand-in of tests/emulator (in this process, real HTTP). With the
stand-in's autopilot on, pods become Ready and submitter Jobs complete as soon as they exist,
and the Flink stand-in reports the job RUNNING once its submitter exists, so the run measures the
operator, not a kubelet.

Reported, for a baseline of 1 job and for N jobs (ratios against the baseline per job):
- objects+status: until every job has its ConfigMaps, RBAC, Service, JobManager and TaskManager
  Deployments and a status (phase Deploying) written;
- running: until every job is Running (submitted, Flink job id recorded);
- the operator process's peak RSS (VmHWM).

    .venv/bin/python benchmarks/operator_scale.py --jobs 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "emulator"))

# E402: these come after sys.path points at tests/emulator (the emulator's helpers)
import kubernetes  # noqa: E402
from emu_operator import OperatorProcess  # noqa: E402
from emu_standins import StandIns  # noqa: E402

from tfflink.backends.kubernetes import names as n  # noqa: E402

PER_JOB = {  # objects the operator creates per job (the submitter comes later)
    "v1/configmaps": 2,
    "v1/serviceaccounts": 1,
    "v1/services": 1,
    "rbac.authorization.k8s.io/v1/roles": 1,
    "rbac.authorization.k8s.io/v1/rolebindings": 1,
    "apps/v1/deployments": 2,
}


def _job(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "metadata": {"name": name},
        "spec": {"entry": {"module": "train"}, "roles": {"worker": {"replicas": 2}, "ps": {"replicas": 1}}},
    }


def _progress(s: StandIns, namespaces: list[str]) -> tuple[int, int]:
    """(jobs with every object and a status, jobs Running), read from the stand-in's store."""

    def count() -> tuple[int, int]:
        store = s.kube.store
        jobs = [(k, o) for k, o in store.items() if k[0] == "tfflink.dev/v1alpha1/tfflinkjobs" and k[1] in namespaces]
        per: dict[tuple[str | None, str], dict[str, int]] = {}
        for (rkey, ns, _), o in store.items():
            job = (o["metadata"].get("labels") or {}).get(n.JOB)
            if job and rkey in PER_JOB:
                c = per.setdefault((ns, job), {})
                c[rkey] = c.get(rkey, 0) + 1
        ready = sum(
            1 for (_, ns, name), o in jobs if (o.get("status") or {}).get("phase") and per.get((ns, name)) == PER_JOB
        )
        running = sum(1 for _, o in jobs if (o.get("status") or {}).get("phase") == "Running")
        return ready, running

    return s.call(count)


def _rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(s: StandIns, api: kubernetes.client.ApiClient, n_jobs: int, tag: str, timeout: float) -> tuple[float, float]:
    namespaces = [f"{tag}-{i}" for i in range(max(1, min(4, n_jobs)))]
    custom = kubernetes.client.CustomObjectsApi(api)
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: custom.create_namespaced_custom_object(
                    "tfflink.dev", "v1alpha1", namespaces[i % len(namespaces)], "tfflinkjobs", _job(f"job-{i}")
                ),
                range(n_jobs),
            )
        )
    created = time.monotonic() - start
    t_objects = t_running = float("nan")
    while time.monotonic() - start < timeout:
        ready, running = _progress(s, namespaces)
        now = time.monotonic() - start
        if ready == n_jobs and t_objects != t_objects:
            t_objects = now
        if running == n_jobs:
            t_running = now
            break
        time.sleep(0.2)
    print(
        f"  {tag}: {n_jobs} job(s) created in {created:.2f}s; objects+status {t_objects:.2f}s; running {t_running:.2f}s"
    )
    return t_objects, t_running


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args()
    s = StandIns(autopilot=True).start()

    def flink_answers(rkey: str, obj: dict[str, Any]) -> None:  # a JobManager runs what is submitted
        if rkey == "batch/v1/jobs":
            labels = obj["metadata"]["labels"]
            s.flink.set_job(obj["metadata"]["namespace"], n.jobmanager_service(labels[n.JOB]), "RUNNING")

    s.kube.on_create.append(flink_answers)
    with tempfile.TemporaryDirectory() as tmp:
        kc = s.kubeconfig(Path(tmp) / "config")
        api = kubernetes.config.new_client_from_config(str(kc))
        op = OperatorProcess(s, kc, Path(tmp))
        op.start()
        try:
            assert op.proc is not None
            print(f"operator pid {op.proc.pid}, RSS after start {_rss_peak_mib(op.proc.pid):.0f} MiB")
            base_obj, base_run = run(s, api, 1, "base", args.timeout)
            obj, runn = run(s, api, args.jobs, "scale", args.timeout)
            peak = _rss_peak_mib(op.proc.pid)
        finally:
            op.stop()
    s.stop()
    print(f"\n{args.jobs} TFFlinkJobs at once (operator: kopf + kubernetes client, stand-in API over HTTP):")
    print(
        f"  all objects + status : {obj:.2f}s  ({obj / args.jobs * 1000:.0f} ms/job; baseline 1 job {base_obj:.2f}s,"
        f" per-job ratio {obj / args.jobs / base_obj:.2f}x)"
    )
    print(
        f"  all Running          : {runn:.2f}s  ({runn / args.jobs * 1000:.0f} ms/job; baseline 1 job {base_run:.2f}s,"
        f" per-job ratio {runn / args.jobs / base_run:.2f}x)"
    )
    print(f"  operator peak RSS    : {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
