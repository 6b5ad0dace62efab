"""Flink's config dir is the distribution's defaults with our keys on top (both backends)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tfflink.backends.flink_conf import flatten, merged

DEFAULTS = """\
env:
  java:
    opts:
      all: --add-opens=java.base/java.util=ALL-UNNAMED
jobmanager:
  rpc:
    address: localhost
    port: 6123
"""


def test_nested_defaults_flatten_and_our_keys_win() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "d": [1]}) == {"a.b.c": 1, "d": [1]}
    conf = merged(DEFAULTS, {"jobmanager.rpc.address": "svc", "rest.port": "8081"})
    assert conf["env.java.opts.all"] == "--add-opens=java.base/java.util=ALL-UNNAMED"
    assert conf["jobmanager.rpc.address"] == "svc" and conf["jobmanager.rpc.port"] == 6123
    assert conf["rest.port"] == "8081"


def test_flink_exec_writes_the_conf_dir_from_the_images_flink_then_execs(tmp_path: Path) -> None:
    """What a pod does first: `tfflink flink-exec --config-dir CM -- CMD` (here CMD prints the result)."""
    home = tmp_path / "flink"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "config.yaml").write_text(DEFAULTS)
    (home / "conf" / "log4j-cli.properties").write_text("cli")
    cm = tmp_path / "cm"
    cm.mkdir()
    (cm / "config.yaml").write_text(yaml.safe_dump({"jobmanager.rpc.address": "linear-jobmanager"}))
    (cm / "log4j-console.properties").write_text("ours")
    out = tmp_path / "conf"
    env = {**os.environ, "FLINK_HOME": str(home), "FLINK_CONF_DIR": str(out)}
    r = subprocess.run(
        [sys.executable, "-m", "tfflink", "flink-exec", "--config-dir", str(cm), "--", "cat", str(out / "config.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    conf = yaml.safe_load(r.stdout)
    assert conf["env.java.opts.all"].startswith("--add-opens") and conf["jobmanager.rpc.address"] == "linear-jobmanager"
    assert (out / "log4j-console.properties").read_text() == "ours" and (
        out / "log4j-cli.properties"
    ).read_text() == "cli"


def test_node_lines_reach_the_container_stdout_when_configured(tmp_path: Path) -> None:
    sink = tmp_path / "stdout"
    sink.write_text("")
    code = "from tfflink.runtime.cluster.log_echo import echo; echo('[worker-1] step 50'); echo('x' * 10000)"
    env = {**os.environ, "TFFLINK_LOG_STDOUT": str(sink)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    lines = sink.read_text().splitlines()
    assert lines[0] == "[worker-1] step 50" and len(lines[1]) == 4000  # long lines cut, never split
    # unset: nothing written anywhere, no error
    subprocess.run(
        [sys.executable, "-c", code],
        env={k: v for k, v in os.environ.items() if k != "TFFLINK_LOG_STDOUT"},
        check=True,
        timeout=60,
    )


def test_tf_threads_follow_the_containers_cpu_limit(tmp_path: Path) -> None:
    from tfflink.runtime.cluster.agent import cgroup_cpus, thread_env

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpus(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpus(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("50000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpus(v1) == 1
    assert thread_env(1) == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "2"}
    assert thread_env(None) == {}
