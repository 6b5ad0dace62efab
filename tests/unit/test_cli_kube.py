"""The pure parts of the Kubernetes commands (tfflink.cli.kube): no cluster needed.

Packaging a job directory into the code ConfigMap (keys, skips, refusals, the size limit), the
TFFlinkJob document with codeConfigMap, submit's create/undo order against a fake API, node
log-line filtering, status text, and the command line's one-line errors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiException
from kubernetes.client.exceptions import ForbiddenException, NotFoundException

from tfflink.backends.kubernetes import manifests
from tfflink.backends.kubernetes import names as n
from tfflink.cli import kube
from tfflink.cli.main import main
from tfflink.spec import load_job, parse_job

ROOT = Path(__file__).resolve().parents[2]
LINEAR = ROOT / "examples" / "linear"


def job_dir(tmp_path: Path, **spec: Any) -> Path:
    """A job directory: job.yaml + train.py, spec fields overridden."""
    doc = yaml.safe_load((LINEAR / "job.yaml").read_text())
    doc["spec"]["checkpointDir"] = "/data/linear"
    doc["spec"].update(spec)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "train.py").write_text("def map_func(context):\n    pass\n")
    return tmp_path / "job.yaml"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# --- packaging -----------------------------------------------------------------------------------


def test_mirrored_names_agree_with_the_backend() -> None:
    assert (kube.GROUP, kube.VERSION, kube.PLURAL) == (n.GROUP, n.VERSION, n.PLURAL)
    assert (kube.JOB_LABEL, kube.COMPONENT_LABEL, kube.ATTEMPT_LABEL) == (n.JOB, n.COMPONENT, n.ATTEMPT)
    assert (kube.TASKMANAGER, kube.REST_PORT, kube.JOB_DIR) == (n.TASKMANAGER, n.FLINK_REST_PORT, manifests.JOB_DIR)
    assert kube.jobmanager_service("x") == n.jobmanager_service("x")


def test_package_keys_are_the_flat_files_text_and_binary(tmp_path: Path) -> None:
    job_dir(tmp_path)
    (tmp_path / "rows.csv").write_text("id,x\n1,2\n")
    (tmp_path / "weights.bin").write_bytes(b"\x00\xff\xfe binary")
    for skipped in (".hidden", "mod.pyc"):
        (tmp_path / skipped).write_text("x")
    for d in ("__pycache__", ".tfflink/linear-1", ".git"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "f.txt").write_text("x")
    pkg = kube.package_dir(tmp_path)
    assert pkg.keys == ["job.yaml", "rows.csv", "train.py", "weights.bin"]
    assert pkg.data["rows.csv"] == "id,x\n1,2\n"
    assert pkg.binary_data == {"weights.bin": b"\x00\xff\xfe binary"}
    cm = kube.code_config_map("linear", "ns", pkg)
    assert cm["metadata"] == {
        "name": "linear-code",
        "namespace": "ns",
        "labels": {
            "app.kubernetes.io/name": "tfflink",
            "app.kubernetes.io/managed-by": "tfflink-cli",
            "tfflink.dev/job": "linear",
            "tfflink.dev/component": "code",
        },
    }
    assert set(cm["data"]) == {"job.yaml", "rows.csv", "train.py"}
    assert cm["binaryData"] == {"weights.bin": "AP/+IGJpbmFyeQ=="}  # base64, as the API wants
    assert pkg.total == sum(len(k) for k in pkg.keys) + sum(pkg.sizes().values())


def test_subdirectories_are_refused_with_the_files_and_a_way_out(tmp_path: Path) -> None:
    job_dir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1\n")
    (tmp_path / "data" / "b.csv").write_text("2\n")
    with pytest.raises(kube.CliError) as e:
        kube.package_dir(tmp_path)
    assert e.value.code == kube.EXIT_INVALID
    msg = e.value.message
    assert "data/a.csv, data/b.csv" in msg and "flat" in msg and "--exclude data" in msg and "\n" not in msg
    assert kube.package_dir(tmp_path, exclude=["data"]).keys == ["job.yaml", "train.py"]
    assert kube.package_dir(tmp_path, exclude=["data/*.csv"]).keys == ["job.yaml", "train.py"]
    assert kube.package_dir(tmp_path, exclude=["data", "*.py"]).keys == ["job.yaml"]


def test_symlinks_inside_are_read_outside_are_refused(tmp_path: Path) -> None:
    d = tmp_path / "job"
    d.mkdir()
    job_dir(d)
    (d / "alias.py").symlink_to(d / "train.py")
    assert kube.package_dir(d).data["alias.py"] == (d / "train.py").read_text()
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    (d / "leak.txt").symlink_to(secret)
    with pytest.raises(kube.CliError, match=r"symlinks pointing outside the job directory .*leak.txt -> .*secret.txt"):
        kube.package_dir(d)
    (d / "leak.txt").unlink()
    (d / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(kube.CliError, match="elsewhere -> "):
        kube.package_dir(d)


def test_file_names_must_be_configmap_keys(tmp_path: Path) -> None:
    job_dir(tmp_path)
    (tmp_path / "my notes.txt").write_text("x")
    with pytest.raises(kube.CliError, match="valid ConfigMap keys.*'my notes.txt'"):
        kube.package_dir(tmp_path)


def test_size_limit_names_the_biggest_files(tmp_path: Path) -> None:
    job_dir(tmp_path)
    (tmp_path / "big.csv").write_text("x" * 700_000)
    (tmp_path / "bigger.bin").write_bytes(b"\xff" * 900_000)
    (tmp_path / "small.csv").write_text("x" * 10)
    pkg = kube.package_dir(tmp_path)
    with pytest.raises(kube.CliError) as e:
        kube.check_size(pkg)
    msg = e.value.message
    assert "1.5 MiB in 5 files is over the 1.0 MiB" in msg, msg
    assert "the biggest: bigger.bin (878.9 KiB), big.csv (683.6 KiB), job.yaml (" in msg, msg
    assert "small.csv" not in msg and "--exclude" in msg
    kube.check_size(kube.package_dir(tmp_path, exclude=["big*"]))  # fits


def test_too_big_is_refused_before_any_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = job_dir(tmp_path)
    (tmp_path / "data.csv").write_text("1,2,3\n" * 200_000)
    rc, out, err = run_cli(capsys, "submit", "--kubernetes", str(job), "--kubeconfig", str(tmp_path / "none"))
    assert rc == 2 and out == ""
    assert err.startswith("tfflink: error: ") and err.count("\n") == 1 and "data.csv (1.1 MiB)" in err, err


# --- the job's paths and document ------------------------------------------------------------------


def test_job_paths_must_resolve_in_the_flat_read_only_mount(tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    ok = load_job(job).job
    assert kube.job_path_problems(ok) == []
    doc = yaml.safe_load(job.read_text())
    doc["spec"].update(entry={"file": "src/train.py"}, checkpointDir="ckpt")
    problems = kube.job_path_problems(parse_job(doc))
    assert problems[0].startswith("spec.entry.file: src/train.py is not directly in the job file's directory")
    assert problems[1].startswith("spec.checkpointDir: ckpt is relative") and "read-only" in problems[1]
    stream = yaml.safe_load((ROOT / "examples/stream_train/job.yaml").read_text())
    assert kube.job_path_problems(parse_job(stream)) == []  # features.py, generated sources
    inference = yaml.safe_load((ROOT / "examples/inference/job.yaml").read_text())
    inference["spec"]["input"]["sources"][0]["csv"]["paths"] = ["rows*.csv", "in/x.csv", "/data/y.csv"]
    inference["spec"]["savedModel"]["path"] = "model"
    problems = kube.job_path_problems(parse_job(inference))
    assert [p.split(":")[0] for p in problems] == [
        "spec.input.sources[0].csv.paths[1]",
        "spec.output.path",
        "spec.savedModel.path",
    ]


def test_job_document_sets_code_config_map_and_namespace(tmp_path: Path) -> None:
    raw = yaml.safe_load((LINEAR / "job.yaml").read_text())
    raw["spec"]["kubernetes"] = {"image": "me/runtime:1"}
    raw["status"] = {"phase": "Running"}
    doc = kube.job_document(raw, "team-a", "linear-code")
    assert doc["metadata"] == {"name": "linear", "namespace": "team-a"}
    assert doc["spec"]["kubernetes"] == {"image": "me/runtime:1", "codeConfigMap": "linear-code"}
    assert "status" not in doc and "codeConfigMap" not in raw["spec"]["kubernetes"]  # input untouched
    assert parse_job(doc).spec.kubernetes.code_config_map == "linear-code"
    assert kube.owner_reference("linear", "u-1") == {
        "apiVersion": "tfflink.dev/v1alpha1",
        "kind": "TFFlinkJob",
        "name": "linear",
        "uid": "u-1",
    }


def test_prepare_the_linear_example() -> None:
    p = kube.prepare(str(LINEAR / "job.yaml"), "e2e")
    assert p.name == "linear" and p.namespace == "e2e"
    assert {"train.py", "job.yaml"} <= set(p.config_map["data"])
    assert p.config_map["data"]["train.py"] == (LINEAR / "train.py").read_text()
    assert p.job["spec"]["kubernetes"]["codeConfigMap"] == "linear-code"
    assert p.job["spec"]["entry"]["file"] == "train.py"  # relative: resolves in the mount
    # the example keeps checkpoints in the pod: said before submitting, not hidden
    assert any("the operator will refuse this job: spec.checkpointDir" in w for w in p.warnings)
    # the namespace: -n, else the job file's, else the context's, else default
    assert kube.prepare(str(LINEAR / "job.yaml"), None, context_namespace=lambda: "ctx").namespace == "ctx"
    assert kube.prepare(str(LINEAR / "job.yaml"), None).namespace == "default"


def test_prepare_refusals(tmp_path: Path) -> None:
    job = job_dir(tmp_path)
    with pytest.raises(kube.CliError, match=r"spec.entry.file: train.py is not in the code ConfigMap"):
        kube.prepare(str(job), "ns", exclude=["train.py"])
    doc = yaml.safe_load(job.read_text())
    doc["metadata"]["namespace"] = "a"
    job.write_text(yaml.safe_dump(doc))
    with pytest.raises(kube.CliError, match="says namespace a, -n says b"):
        kube.prepare(str(job), "b")
    assert kube.prepare(str(job), None).namespace == "a"


def test_dry_run_prints_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = job_dir(tmp_path)
    rc, out, err = run_cli(
        capsys, "submit", "--kubernetes", str(job), "-n", "x", "--dry-run", "--kubeconfig", str(tmp_path / "none")
    )
    assert rc == 0, err
    assert "dry run: nothing was created. ConfigMap linear-code (namespace x): 2 files" in out
    doc = yaml.safe_load(out.split("---\n", 1)[1])
    assert doc["spec"]["kubernetes"]["codeConfigMap"] == "linear-code" and doc["metadata"]["namespace"] == "x"


# --- submit against a fake API: order, owner, undo --------------------------------------------------


def api_error(status: int, name: str = "") -> ApiException:
    """As the client raises them: NotFoundException, ForbiddenException... (ApiException subclasses)."""
    cls = {404: NotFoundException, 403: ForbiddenException}.get(status, ApiException)
    e = cls(status=status, reason={404: "Not Found", 403: "Forbidden", 422: "Unprocessable Entity"}[status])
    e.body = json.dumps({"kind": "Status", "message": f"boom {status}", "details": {"name": name} if name else {}})
    return e


class FakeCore:
    def __init__(self, existing: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.existing = existing

    def read_namespaced_config_map(self, name: str, ns: str, **_: Any) -> Any:
        self.calls.append(("read", name))
        if self.existing is None:
            raise api_error(404, name)
        return self.existing

    def create_namespaced_config_map(self, ns: str, body: Any, **_: Any) -> None:
        self.calls.append(("create", body["metadata"]["name"]))

    def replace_namespaced_config_map(self, name: str, ns: str, body: Any, **_: Any) -> None:
        self.calls.append(("replace", body))

    def patch_namespaced_config_map(self, name: str, ns: str, body: Any, **kw: Any) -> None:
        self.calls.append(("patch", (body, kw["_content_type"])))

    def delete_namespaced_config_map(self, name: str, ns: str, **_: Any) -> None:
        self.calls.append(("delete", name))


class FakeCustom:
    def __init__(self, exists: bool = False, fail_apply: bool = False) -> None:
        self.exists, self.fail_apply = exists, fail_apply
        self.calls: list[tuple[str, Any]] = []

    def get_namespaced_custom_object(self, g: str, v: str, ns: str, plural: str, name: str, **_: Any) -> Any:
        if not self.exists:
            raise api_error(404, name)
        return {"metadata": {"name": name, "uid": "uid-1"}}

    def patch_namespaced_custom_object(
        self, g: str, v: str, ns: str, plural: str, name: str, body: Any, **kw: Any
    ) -> Any:
        self.calls.append(("apply", (body, kw)))
        if self.fail_apply:
            raise api_error(422)
        created, self.exists = not self.exists, True
        # the client deserializes only a 200 body: a 201 Created (a new object) comes back as None
        return None if created else {"metadata": {"name": name, "uid": "uid-1"}}

    def delete_namespaced_custom_object(self, g: str, v: str, ns: str, plural: str, name: str, **_: Any) -> None:
        self.calls.append(("delete", name))


class FakeApi:
    def sanitize_for_serialization(self, obj: Any) -> Any:
        return obj


def fake_kube(core: FakeCore, custom: FakeCustom) -> kube.Kube:
    return kube.Kube(FakeApi(), core, custom, "https://fake", "e2e")


def test_apply_creates_the_config_map_then_the_job_then_owns_it() -> None:
    p = kube.prepare(str(LINEAR / "job.yaml"), "e2e")
    core, custom = FakeCore(), FakeCustom()
    assert kube.apply(fake_kube(core, custom), p) == (True, True)
    assert [c[0] for c in core.calls] == ["read", "create", "patch"]
    body, kw = custom.calls[0][1]
    assert body["spec"]["kubernetes"]["codeConfigMap"] == "linear-code"
    assert kw["_content_type"] == "application/apply-patch+yaml" and kw["force"] is True
    assert kw["field_manager"] == "tfflink-cli"
    patch, content_type = core.calls[2][1]
    assert patch == {"metadata": {"ownerReferences": [kube.owner_reference("linear", "uid-1")]}}
    assert content_type == "application/merge-patch+json"
    core2 = FakeCore()
    assert kube.apply(fake_kube(core2, custom), p) == (True, False)  # the job now exists: configured
    assert core2.calls[2][1] == core.calls[2][1]


def test_a_failed_apply_deletes_the_new_config_map() -> None:
    p = kube.prepare(str(LINEAR / "job.yaml"), "e2e")
    core, custom = FakeCore(), FakeCustom(fail_apply=True)
    with pytest.raises(ApiException):
        kube.apply(fake_kube(core, custom), p)
    assert [c[0] for c in core.calls] == ["read", "create", "delete"]
    assert [c[0] for c in custom.calls] == ["apply"]  # no job to delete: it never existed


def test_a_failed_apply_restores_a_replaced_config_map() -> None:
    p = kube.prepare(str(LINEAR / "job.yaml"), "e2e")
    old = {
        "metadata": {"name": "linear-code", "namespace": "e2e", "resourceVersion": "7", "labels": {"a": "b"}},
        "data": {"train.py": "old"},
    }
    core, custom = FakeCore(existing=old), FakeCustom(exists=True, fail_apply=True)
    with pytest.raises(ApiException):
        kube.apply(fake_kube(core, custom), p)
    assert [c[0] for c in core.calls] == ["read", "replace", "replace"]
    restored = core.calls[2][1]
    assert restored["data"] == {"train.py": "old"} and "resourceVersion" not in restored["metadata"]


def test_a_missing_crd_stops_before_anything_is_created() -> None:
    p = kube.prepare(str(LINEAR / "job.yaml"), "e2e")

    class NoCrd(FakeCustom):
        def get_namespaced_custom_object(self, *a: Any, **kw: Any) -> Any:
            raise api_error(404)  # no details.name: the resource type itself is unknown

    core = FakeCore()
    with pytest.raises(kube.CliError, match="does not know TFFlinkJobs: install the CRD"):
        kube.apply(fake_kube(core, NoCrd()), p)
    assert core.calls == []


def test_api_errors_are_one_line() -> None:
    msg = kube.describe(api_error(403))
    assert msg == "Kubernetes API: boom 403 (HTTP 403 Forbidden); ask for RBAC access (kubectl auth can-i)"
    assert kube.describe(ValueError("x")) is None


# --- logs ---------------------------------------------------------------------------------------------


LINES = [
    "2026-01-01 12:00:00,000 INFO  org.apache.flink.runtime.taskexecutor.TaskExecutor - started",
    "[worker-0] step 10 loss 0.5",
    "[worker-1] step 10 loss 0.6",
    "[ps-0] serving",
    "[worker-10] step 1",
    "[worker-1]",
    "[worker-x] not a node",
    " [worker-0] indented: not a node line",
]


def test_node_line_filtering_by_role_and_index() -> None:
    assert kube.filter_node_lines(LINES) == LINES[1:6]
    assert kube.filter_node_lines(LINES, role="worker") == [LINES[1], LINES[2], LINES[4], LINES[5]]
    assert kube.filter_node_lines(LINES, role="ps") == ["[ps-0] serving"]
    assert kube.filter_node_lines(LINES, role="worker", index=1) == ["[worker-1] step 10 loss 0.6", "[worker-1]"]
    assert kube.filter_node_lines(LINES, index=0) == ["[worker-0] step 10 loss 0.5", "[ps-0] serving"]


def test_pod_selector_is_the_current_attempts_taskmanagers() -> None:
    assert (
        kube.pod_selector("linear", 3)
        == "tfflink.dev/job=linear,tfflink.dev/component=taskmanager,tfflink.dev/attempt=3"
    )


def test_log_printer_splits_chunks_and_never_prints_a_line_twice() -> None:
    import io

    out = io.StringIO()
    printer = kube.LogPrinter(lambda line: kube.node_line(line, "worker"), out)
    stream = [
        b"2026-01-01T00:00:01.000000000Z [worker-0] a\n2026-01-01T00:00:02.0",
        b"00000000Z [ps-0] b\n",
        b"2026-01-01T00:00:03.000000000Z [worker-1] c\r\n2026-01-01T00:00:04.000000000Z [worker-0] d",
    ]
    printer.stream("tm-1", stream)
    assert out.getvalue() == "[worker-0] a\n[worker-1] c\n[worker-0] d\n"
    printer.stream("tm-1", stream)  # the stream reopened from the start: nothing new
    printer.stream("tm-2", [b"2026-01-01T00:00:01.000000000Z [worker-2] e\n"])  # another pod's clock
    assert out.getvalue() == "[worker-0] a\n[worker-1] c\n[worker-0] d\n[worker-2] e\n"


# --- status ----------------------------------------------------------------------------------------


JOB = {
    "metadata": {"name": "linear", "namespace": "e2e"},
    "spec": {"failover": {"maxRestarts": 3}, "kubernetes": {"codeConfigMap": "linear-code"}},
    "status": {
        "phase": "Running",
        "reason": "FlinkJobRunning",
        "message": "the Flink job is RUNNING",
        "restartCount": 1,
        "attempt": 2,
        "flinkJobId": "a1b2c3",
        "taskManagers": 1,
        "roles": {"ps": {"desired": 1, "running": 1}, "worker": {"desired": 2, "running": 2, "failed": 0}},
        "progress": {"step": 1200, "stepsPerSecond": 35.5, "checkpointStep": 1100},
        "rows": {"sent": 5000, "replayed": 0, "late": 0, "malformed": 2, "inputGuarantee": "exactly-once"},
        "conditions": [
            {
                "type": "Created",
                "status": "True",
                "reason": "Deployed",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            },
            {
                "type": "Running",
                "status": "True",
                "reason": "FlinkJobRunning",
                "message": "running",
                "lastTransitionTime": "2026-01-01T00:01:00Z",
            },
        ],
    },
}


def test_format_status() -> None:
    text = kube.format_status(JOB)
    lines = text.splitlines()
    assert "Phase:         Running" in lines and "Reason:        FlinkJobRunning" in lines
    assert "Message:       the Flink job is RUNNING" in lines
    assert "Restarts:      1 of 3" in lines and "Attempt:       2" in lines and "Flink job:     a1b2c3" in lines
    assert "Code:          configmap/linear-code at /opt/tfflink/job" in lines
    assert "Progress:      step 1200, 35.5 steps/s, checkpoint at step 1100" in lines
    assert "Rows:          5000 sent, 2 malformed (skipped); input exactly-once" in lines
    roles = lines[lines.index("Roles:") + 1 : lines.index("Roles:") + 4]
    assert [r.split() for r in roles] == [
        ["ROLE", "DESIRED", "RUNNING", "SUCCEEDED", "FAILED"],
        ["worker", "2", "2", "0", "0"],
        ["ps", "1", "1", "0", "0"],
    ]
    conds = lines[lines.index("Conditions:") + 1 :]
    assert conds[0].split() == ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"]
    assert conds[2].split() == ["Running", "True", "FlinkJobRunning", "2026-01-01T00:01:00Z", "running"]


def test_format_status_before_the_operator_reported() -> None:
    text = kube.format_status({"metadata": {"name": "j", "namespace": "n"}, "spec": {}})
    assert "Phase:         Pending (no status yet" in text and "Restarts:      0" in text and "Flink job:     -" in text
    assert kube.status_json(JOB) == {"name": "linear", "namespace": "e2e", "status": JOB["status"]}


# --- ui and the command line -------------------------------------------------------------------------


def test_port_forward_command() -> None:
    assert kube.port_forward_command("kubectl", "linear", "e2e", 9000) == [
        "kubectl",
        "port-forward",
        "-n",
        "e2e",
        "svc/linear-jobmanager",
        "9000:8081",
    ]
    assert kube.port_forward_command("k", "j", "n", 8081, "/kc", "ctx")[:5] == [
        "k",
        "--kubeconfig",
        "/kc",
        "--context",
        "ctx",
    ]


def test_ui_without_kubectl(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    rc, _, err = run_cli(capsys, "ui", "linear")
    assert rc == 1 and err.startswith("tfflink: error: kubectl not found on PATH") and err.count("\n") == 1


def test_submit_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = str(job_dir(tmp_path))
    rc, _, err = run_cli(capsys, "submit", job)
    assert rc == 2 and "--flink-address and --rendezvous are required" in err and "--kubernetes" in err
    rc, _, err = run_cli(capsys, "submit", job, "-n", "x", "--flink-address", "h:1", "--rendezvous", "file:///t")
    assert rc == 2 and err == "tfflink: error: submit: --namespace only with --kubernetes\n"
    rc, _, err = run_cli(capsys, "submit", "--kubernetes", job, "--flink-address", "h:1")
    assert rc == 2 and "does not take them" in err


def test_cluster_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_cli(capsys, "status", "linear", "--kubeconfig", str(tmp_path / "missing"))
    assert rc == 1 and err.startswith("tfflink: error: no usable Kubernetes configuration") and err.count("\n") == 1
    kc = tmp_path / "kc"
    kc.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "team"}}],
            }
        )
    )
    for argv in (
        ["status", "linear"],
        ["logs", "linear", "--role", "ps"],
        ["submit", "--kubernetes", str(LINEAR / "job.yaml")],
    ):
        rc, _, err = run_cli(capsys, *argv, "--kubeconfig", str(kc))
        last = err.strip().splitlines()[-1]
        assert rc == 1 and last.startswith(
            "tfflink: error: cannot reach the Kubernetes API server at https://127.0.0.1:1"
        ), err
        assert "Traceback" not in err


def test_validate_does_not_import_the_kubernetes_client() -> None:
    import subprocess
    import sys

    code = "import sys; from tfflink.cli.main import main; main(['validate', sys.argv[1]]); print('kubernetes' in sys.modules)"
    r = subprocess.run(
        [sys.executable, "-c", code, str(LINEAR / "job.yaml")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator")},
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("False"), r.stdout + r.stderr


# --- logs against a fake API: which pods, which container, what order, when a follow ends ----------


class Obj:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


def pod(name: str, *containers: str) -> Obj:
    return Obj(metadata=Obj(name=name), spec=Obj(containers=[Obj(name=c) for c in containers]))


class Stream:
    def __init__(self, text: str) -> None:
        self.data = text.encode()

    def stream(self, n: int) -> Any:
        yield from (self.data[i : i + 7] for i in range(0, len(self.data), 7))  # lines split anywhere

    def release_conn(self) -> None:
        pass


class LogCore:
    LOGS = {
        "linear-taskmanager-2-a": "2026-01-01T00:00:02.000000000Z [worker-0] step 2\n"
        "2026-01-01T00:00:03.000000000Z flink noise\n",
        "linear-taskmanager-2-b": "2026-01-01T00:00:01.000000000Z [ps-0] up\n"
        "2026-01-01T00:00:04.000000000Z [worker-1] step 4\n",
    }

    def __init__(self) -> None:
        self.selectors: list[str] = []
        self.reads: list[tuple[str, str | None, bool]] = []

    def list_namespaced_pod(self, ns: str, label_selector: str, **_: Any) -> Obj:
        self.selectors.append(label_selector)
        return Obj(
            items=[
                pod("linear-taskmanager-2-b", "taskmanager", "sidecar"),
                pod("linear-taskmanager-2-a", "taskmanager"),
            ]
        )

    def read_namespaced_pod_log(
        self, name: str, ns: str, container: str | None = None, follow: bool = False, timestamps: bool = False, **_: Any
    ) -> Any:
        assert timestamps
        self.reads.append((name, container, follow))
        return Stream(self.LOGS[name]) if follow else self.LOGS[name]


class JobCustom:
    def __init__(self, *phases: str) -> None:
        self.phases = list(phases)

    def get_namespaced_custom_object(self, *a: Any, **kw: Any) -> Any:
        phase = self.phases.pop(0) if len(self.phases) > 1 else self.phases[0]
        return {"metadata": {"name": "linear"}, "status": {"phase": phase, "attempt": 2}}


def test_logs_merge_the_current_attempts_taskmanagers_in_time_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    core = LogCore()
    monkeypatch.setattr(kube, "connect", lambda args: kube.Kube(FakeApi(), core, JobCustom("Running"), "h", "e2e"))
    rc, out, err = run_cli(capsys, "logs", "linear")
    assert rc == 0, err
    assert out == "[ps-0] up\n[worker-0] step 2\n[worker-1] step 4\n"
    assert core.selectors == [kube.pod_selector("linear", 2)]
    assert sorted(core.reads) == [
        ("linear-taskmanager-2-a", "taskmanager", False),
        ("linear-taskmanager-2-b", "taskmanager", False),
    ]
    rc, out, _ = run_cli(capsys, "logs", "linear", "--role", "worker", "--index", "1")
    assert out == "[worker-1] step 4\n"


def test_logs_follow_streams_every_pod_and_ends_with_the_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    core = LogCore()
    monkeypatch.setattr(
        kube, "connect", lambda args: kube.Kube(FakeApi(), core, JobCustom("Running", "Succeeded"), "h", "e2e")
    )
    monkeypatch.setattr(kube.time, "sleep", lambda s: None)
    rc, out, err = run_cli(capsys, "logs", "linear", "-f", "--role", "worker")
    assert rc == 0, err
    assert sorted(out.splitlines()) == ["[worker-0] step 2", "[worker-1] step 4"]  # each once
    assert all(follow for _, _, follow in core.reads)
    assert err == "tfflink: linear: Succeeded\n"


def test_logs_before_the_cluster_exists(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class NoAttempt(JobCustom):
        def get_namespaced_custom_object(self, *a: Any, **kw: Any) -> Any:
            return {"metadata": {"name": "linear"}, "status": {"phase": "Pending"}}

    monkeypatch.setattr(kube, "connect", lambda args: kube.Kube(FakeApi(), LogCore(), NoAttempt(), "h", "e2e"))
    rc, _, err = run_cli(capsys, "logs", "linear")
    assert rc == 1 and err == (
        "tfflink: error: job linear has no TaskManager pods (phase Pending); nothing to show "
        "yet (tfflink status linear)\n"
    )
