"""Operator process settings: namespace scoping, environment, metrics bookkeeping."""

from __future__ import annotations

from tfflink.operator.config import OperatorConfig
from tfflink.operator.main import parse_args
from tfflink.operator.metrics import Metrics
from tfflink.spec.status import Phase


def test_defaults_serve_the_whole_cluster_with_in_cluster_flink_addresses() -> None:
    cfg, _ = parse_args([])
    assert cfg.namespaces == () and cfg.metrics_port == 9090
    assert cfg.flink_url_template == "http://{service}.{namespace}.svc:{port}"
    assert cfg.liveness.endswith("/healthz") and cfg.watch_timeout_seconds == 300


def test_namespace_list_from_flags_or_environment() -> None:
    cfg, _ = parse_args(["-n", "team-a", "-n", "team-b", "--poll-seconds", "2"])
    assert cfg.namespaces == ("team-a", "team-b") and cfg.poll_seconds == 2.0
    env = OperatorConfig.from_env(
        {
            "TFFLINK_NAMESPACES": "x, y,",
            "TFFLINK_METRICS_PORT": "0",
            "TFFLINK_FLINK_URL_TEMPLATE": "http://127.0.0.1:8001/{namespace}/{service}",
        }
    )
    assert env.namespaces == ("x", "y")
    assert env.metrics_port == 0 and env.flink_url_template.startswith("http://127.0.0.1:8001/")


def test_jobs_by_phase_gauge_moves_jobs_between_phases() -> None:
    m = Metrics()

    def value(phase: str) -> float:
        v = m.registry.get_sample_value("tfflink_operator_jobs", {"phase": phase})
        assert v is not None
        return v

    m.phase(("ns", "a"), Phase.DEPLOYING)
    m.phase(("ns", "b"), Phase.DEPLOYING)
    m.phase(("ns", "a"), Phase.RUNNING)
    assert (value("Deploying"), value("Running")) == (1, 1)
    m.phase(("ns", "a"), None)
    assert value("Running") == 0 and value("Failed") == 0


def test_leader_election_settings_are_checked_with_the_flag_named() -> None:
    import pytest

    from tfflink.operator.main import lease_settings

    _, args = parse_args([])
    assert lease_settings(args) is None  # off unless asked for
    _, args = parse_args(["--leader-elect", "--leader-elect-resource-namespace=ops", "--leader-elect-identity=pod-1"])
    lease = lease_settings(args)
    assert lease is not None and (lease.namespace, lease.identity) == ("ops", "pod-1")
    assert lease.retry_period < lease.renew_deadline < lease.lease_duration
    _, args = parse_args(
        ["--leader-elect", "--leader-elect-resource-namespace=ops", "--leader-elect-renew-deadline=20"]
    )
    with pytest.raises(ValueError, match="--leader-elect-renew-deadline < --leader-elect-lease-duration"):
        lease_settings(args)
    _, args = parse_args(["--leader-elect", "--leader-elect-resource-namespace="])
    with pytest.raises(ValueError, match="--leader-elect-resource-namespace"):
        lease_settings(args)
