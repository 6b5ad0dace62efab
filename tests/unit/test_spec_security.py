"""Spec edges a hostile or careless job file could hit: YAML bombs, oversized documents and
properties, keys the runtime owns, backoff overflow, a shared submit work dir."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from tests.support.cli import tfflink
from tests.support.jobs import job_doc
from tfflink.lifecycle import RestartPolicy
from tfflink.spec import SpecError, load_job, parse_job
from tfflink.spec.loader import MAX_DOCUMENT_BYTES
from tfflink.spec.models import RUNTIME_FLINK_KEYS

BOMB = (
    "\n".join(
        [f"spec: &s0 [{', '.join(['lol'] * 10)}]"]
        + [f"x{i}: &s{i} [{', '.join([f'*s{i - 1}'] * 10)}]" for i in range(1, 10)]
    )
    + "\n"
)


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "fn.py").write_text("def map_func(context):\n    pass\n")
    p = tmp_path / "job.yaml"
    p.write_text(text)
    return p


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as e:
        load_job(write(tmp_path, text))
    return str(e.value)


def test_a_1kb_alias_bomb_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    assert len(BOMB) < 1024
    t0 = time.monotonic()
    msg = problems(tmp_path, BOMB)
    assert time.monotonic() - t0 < 2
    assert msg.startswith(f"{tmp_path / 'job.yaml'}: <document>: YAML aliases expand to more than")


def test_validate_refuses_the_bomb_from_the_cli(tmp_path: Path) -> None:
    r = tfflink("validate", str(write(tmp_path, BOMB)), timeout=30)
    assert r.returncode == 2 and "alias bomb" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a: &a [*a]\n", "recursive alias"),
        ("[" * 3000 + "]" * 3000 + "\n", "nested more than"),
        ("a: " + "{b: " * 150 + "1" + "}" * 150 + "\n", "nested more than"),
    ],
    ids=["recursive", "deep-list", "deep-map"],
)
def test_recursive_and_deeply_nested_yaml_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in problems(tmp_path, text)


def test_oversized_and_binary_documents_are_refused(tmp_path: Path) -> None:
    big = yaml.safe_dump(job_doc()) + "# " + "x" * MAX_DOCUMENT_BYTES + "\n"
    assert "byte limit of a job file" in problems(tmp_path, big)
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_job(p)


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = """apiVersion: tfflink.dev/v1alpha1
kind: TFFlinkJob
metadata: {name: t}
spec:
  entry: {file: fn.py}
  roles:
    worker: {replicas: 2, resources: &res {memory: 2g, cpu: 0.5}}
    ps: {replicas: 1, resources: {<<: *res, cpu: 1}}
"""
    roles = load_job(write(tmp_path, text)).job.spec.roles
    assert roles.worker.resources.memory == roles.ps.resources.memory == "2g" and roles.ps.resources.cpu == 1


def test_properties_over_the_environment_limit_fail_validation() -> None:
    parse_job(job_doc(properties={"blob": "x" * 60_000}))
    with pytest.raises(SpecError, match=r"spec\.properties: \d+ bytes in all, over the limit of 65536"):
        parse_job(job_doc(properties={"blob": "x" * 130_000}))
    with pytest.raises(SpecError, match=r"spec\.properties: \d+ bytes in all"):
        parse_job(job_doc(properties={f"k{i}": "x" * 100 for i in range(700)}))


@pytest.mark.parametrize(
    "key",
    [
        "rest.port",
        "rest.bind-address",
        "jobmanager.rpc.address",
        "blob.server.port",
        "taskmanager.data.port",
        "restart-strategy.type",
        "restart-strategy",
        "restart-strategy.fixed-delay.attempts",
        "taskmanager.numberOfTaskSlots",
        "taskmanager.memory.process.size",
        "python.executable",
        "parallelism.default",
        "REST.PORT",
    ],
)
def test_flink_keys_the_runtime_owns_are_refused_with_the_reason(key: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_job(job_doc(flink={"configuration": {key: "1", "state.backend": "rocksdb"}}))
    (line,) = e.value.problems
    assert line.startswith(f"spec.flink.configuration: keys set by tfflink, not the job: {key!r}: ")
    assert "state.backend" not in line


def test_ordinary_flink_keys_pass() -> None:
    conf = {
        "state.backend": "rocksdb",
        "heartbeat.timeout": "20000",
        "taskmanager.memory.managed.fraction": "0.2",
        "restart.x": "1",
        "rest.flamegraph.enabled": "true",
    }
    assert parse_job(job_doc(flink={"configuration": conf})).spec.flink.configuration == conf
    assert "rest.flamegraph.enabled" not in RUNTIME_FLINK_KEYS


def test_flink_configuration_size_is_bounded() -> None:
    with pytest.raises(SpecError, match=r"spec\.flink\.configuration: \d+ bytes in all, over the limit"):
        parse_job(job_doc(flink={"configuration": {f"my.key{i}": "v" * 200 for i in range(400)}}))


@pytest.mark.parametrize(
    "name", ["TFFLINK_RENDEZVOUS", "TFFLINK_NODE_HOST", "TFFLINK_ANYTHING", "FLINK_CONF_DIR", "POD_IP"]
)
def test_env_names_the_runtime_owns_are_refused(name: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_job(job_doc(kubernetes={"env": [{"name": "OK", "value": "1"}, {"name": name, "value": "x"}]}))
    (line,) = e.value.problems
    assert line.startswith(f"spec.kubernetes.env[1].name: {name} is set by tfflink, not the job: ")


def test_env_size_is_bounded() -> None:
    parse_job(job_doc(kubernetes={"env": [{"name": "A", "value": "x" * 30000}]}))
    with pytest.raises(SpecError, match=r"spec\.kubernetes\.env: \d+ bytes in all, over the limit of 65536"):
        parse_job(job_doc(kubernetes={"env": [{"name": f"A{i}", "value": "x" * 30000} for i in range(3)]}))
    with pytest.raises(SpecError, match=r"spec\.kubernetes\.env\[0\]\.value: must be at most 32768 characters"):
        parse_job(job_doc(kubernetes={"env": [{"name": "A", "value": "x" * 40000}]}))


def test_backoff_never_overflows() -> None:
    job = parse_job(
        job_doc(failover={"maxRestarts": 1000, "backoff": {"initialSeconds": 1, "maxSeconds": 60, "multiplier": 10}})
    )
    p = RestartPolicy.from_spec(job.spec.failover)
    delays = [p.decide(restarts_done=n, reason="x").delay_seconds for n in range(1000)]
    assert delays[:3] == [1, 10, 60] and max(delays) == 60 and delays[309] == 60 and delays[-1] == 60
    assert not p.decide(restarts_done=1000, reason="x").restart


def test_backoff_overflow_inside_the_am() -> None:
    from tfflink.runtime.cluster.am_state import ClusterState
    from tfflink.runtime.cluster.protocol import FinishRequest, RegisterRequest

    st = ClusterState(
        roles={"worker": 1},
        heartbeat_timeout=5,
        policy=RestartPolicy(max_restarts=1000, initial_seconds=1, max_seconds=30, multiplier=10),
    )
    for v in range(1, 500):
        st.register(RegisterRequest("worker", 0, "h:1", v))
        st.finish(FinishRequest("worker", 0, v, 1, "boom"))
    assert st.restarts == 499 and st.restart_at - st.version_started == 30


def test_submit_work_dir_is_private_by_default(tmp_path: Path) -> None:
    from tfflink.backends.submit import UnsafeWorkdir, private_workdir
    from tfflink.cli.main import build_parser

    args = build_parser().parse_args(["submit", "job.yaml", "--flink-address", "h:1", "--rendezvous", "file:///x"])
    assert args.workdir is None, "no fixed shared default such as /tmp/tfflink-submit"
    args = build_parser().parse_args(["submit", "job.yaml", "--workdir", "/tmp/tfflink-submit"])
    assert args.workdir == "/tmp/tfflink-submit", "the operator's submitter pod passes its own"
    fresh = tmp_path / "new" / "wd"
    private_workdir(fresh)
    assert (os.stat(fresh).st_mode & 0o777) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafeWorkdir, match="writable by other users"):
        private_workdir(shared)
    if os.geteuid() == 0:
        other = tmp_path / "other"
        other.mkdir(mode=0o755)
        os.chown(other, 65534, 65534)
        with pytest.raises(UnsafeWorkdir, match="belongs to another user"):
            private_workdir(other)


def test_each_submission_gets_its_own_token_unless_one_is_given(tmp_path: Path) -> None:
    from tfflink.cli.main import build_parser
    from tfflink.runtime.config import RuntimeConfig

    loaded = load_job(write(tmp_path, yaml.safe_dump(job_doc())))
    a = RuntimeConfig.from_loaded(loaded, rendezvous="file:///x", submission="a")
    b = RuntimeConfig.from_loaded(loaded, rendezvous="file:///x", submission="b")
    assert len(a.token) >= 40 and a.token != b.token and a.token not in repr(a)
    assert RuntimeConfig.from_json(a.to_json()).token == a.token, "it travels with the config"
    assert RuntimeConfig.from_loaded(loaded, rendezvous="file:///x", submission="c", token="t" * 20).token == "t" * 20
    args = build_parser().parse_args(["submit", "job.yaml", "--token-file", "/run/secrets/am-token"])
    assert args.token_file == "/run/secrets/am-token"
    r = tfflink(
        "submit",
        str(tmp_path / "job.yaml"),
        "--flink-address",
        "127.0.0.1:1",
        "--rendezvous",
        "file:///x",
        "--token-file",
        str(tmp_path / "missing"),
    )
    assert r.returncode == 2 and "cannot read --token-file" in r.stderr
