"""Manifest builders: owner references, labels, sizes, pod placement and least-privilege RBAC."""

from __future__ import annotations

from typing import Any

import yaml
from op_fixtures import job_ref

from tfflink.backends.kubernetes import manifests as m
from tfflink.backends.kubernetes import names as n


def test_every_object_is_owned_and_labelled(ref: m.JobRef) -> None:
    objs = m.job_objects(ref) + m.cluster_objects(ref, 1) + [m.submitter_job(ref, 1)]
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(
        [
            "ConfigMap",
            "ConfigMap",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Service",
            "NetworkPolicy",
            "Deployment",
            "Deployment",
            "Job",
        ]
    )
    for o in objs:
        meta = o["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "tfflink.dev/v1alpha1",
                "kind": "TFFlinkJob",
                "name": "mnist",
                "uid": "uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert meta["labels"][n.JOB] == "mnist"
        assert meta["labels"][n.MANAGED_BY] == "tfflink-operator"


def test_cluster_objects_carry_the_attempt_and_taskmanagers_come_last(ref: m.JobRef) -> None:
    jm, tm = m.cluster_objects(ref, 3)
    assert (jm["metadata"]["name"], tm["metadata"]["name"]) == ("mnist-jobmanager-3", "mnist-taskmanager-3")
    for d in (jm, tm):
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert labels[n.ATTEMPT] == "3"
        assert labels[n.JOB_UID] == "uid-1"  # pods are told apart from a same-name job's
        assert d["spec"]["selector"]["matchLabels"] == d["metadata"]["labels"]


def test_one_taskmanager_holds_all_slots_by_default(ref: m.JobRef) -> None:
    # 2 workers + 1 ps + the AM = 4 slots
    assert m.task_managers(ref) == (1, 4)
    tm = m.taskmanager_deployment(ref, 1)
    assert tm["spec"]["replicas"] == 1
    conf = yaml.safe_load(m.config_map(ref)["data"]["config.yaml"])
    assert conf["taskmanager.numberOfTaskSlots"] == "4"


def test_taskmanagers_are_sized_to_fit_am_ps_and_workers() -> None:
    ref = job_ref(workers=8, ps=2, flink={"taskSlots": 4})  # 11 slots -> 3 TMs of 4
    assert m.task_managers(ref) == (3, 4)
    assert m.taskmanager_deployment(ref, 1)["spec"]["replicas"] == 3


def test_flink_configuration_has_addresses_memory_and_user_overrides() -> None:
    ref = job_ref(
        flink={
            "jobManager": {"memory": "2Gi", "cpu": 1},
            "configuration": {"heartbeat.timeout": "20000", "state.backend": "rocksdb"},
        }
    )
    conf = yaml.safe_load(m.config_map(ref)["data"]["config.yaml"])
    assert conf["jobmanager.rpc.address"] == "mnist-jobmanager"
    assert conf["rest.port"] == "8081"
    assert conf["jobmanager.memory.process.size"] == "2g"
    assert conf["taskmanager.memory.process.size"] == "2g"
    assert conf["state.backend"] == "rocksdb"
    assert conf["heartbeat.timeout"] == "20000"
    assert conf["restart-strategy.type"] == "none", "failover is ours (the spec refuses restart-strategy.*)"


def test_memory_units_translate_for_flink_and_kubernetes() -> None:
    from tfflink.spec.quantity import flink_memory, mib

    assert flink_memory("1600m") == "1600m" and mib("1600m") == 1600
    assert flink_memory("2Gi") == "2g" and mib("2g") == 2048
    assert mib("1048576") == 1 and mib("1500k") == 2


def test_taskmanager_is_sized_for_flink_plus_the_tf_nodes_it_hosts() -> None:
    """3 workers + 1 ps in one TaskManager: Flink's 2g plus four node processes; no CPU limit."""
    ref = job_ref(
        roles={
            "worker": {"replicas": 3, "resources": {"cpu": 0.5, "memory": "1g"}},
            "ps": {"replicas": 1, "resources": {"cpu": 0.25, "memory": "512m"}},
        },
        flink={"taskManager": {"memory": "2g", "cpu": 0.5}},
    )
    c = m.taskmanager_deployment(ref, 1)["spec"]["template"]["spec"]["containers"][0]
    assert c["resources"] == {"requests": {"cpu": "2.25", "memory": "5632Mi"}, "limits": {"memory": "5632Mi"}}
    # Two slots per TaskManager: each is sized for the two biggest nodes it may get.
    ref2 = job_ref(
        roles={
            "worker": {"replicas": 3, "resources": {"cpu": 0.5, "memory": "1g"}},
            "ps": {"replicas": 1, "resources": {"cpu": 0.25, "memory": "512m"}},
        },
        flink={"taskSlots": 2, "taskManager": {"memory": "2g", "cpu": 0.5}},
    )
    dep = m.taskmanager_deployment(ref2, 1)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "1.5",
        "memory": "4096Mi",
    }


def test_taskmanagers_count_and_size_the_chief_and_evaluator_too() -> None:
    """chief (2g) + 2 workers + evaluator, 2 slots per TaskManager: 5 slots with the AM's, so
    3 TaskManagers, each sized for the chief and one more node."""
    ref = job_ref(
        roles={
            "chief": {"replicas": 1, "resources": {"cpu": 1.0, "memory": "2g"}},
            "worker": {"replicas": 2, "resources": {"cpu": 0.5, "memory": "1g"}},
            "evaluator": {"replicas": 1, "resources": {"cpu": 0.5, "memory": "1g"}},
        },
        flink={"taskSlots": 2, "taskManager": {"memory": "2g", "cpu": 0.5}},
    )
    dep = m.taskmanager_deployment(ref, 1)
    assert dep["spec"]["replicas"] == 3
    requests = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests == {"cpu": "2", "memory": "5120Mi"}


def test_default_sizes_fit_a_two_cpu_node() -> None:
    """examples/add's shape (3 workers + 2 ps) with the defaults: JobManager + TaskManager +
    submitter request well under 2 CPUs."""
    ref = job_ref(roles={"worker": {"replicas": 3}, "ps": {"replicas": 2}})
    cpu = 0.0
    for obj in (m.jobmanager_deployment(ref, 1), m.taskmanager_deployment(ref, 1), m.submitter_job(ref, 1)):
        cpu += float(obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"].rstrip("m")) / (
            1000 if obj["kind"] == "Job" else 1
        )
    assert cpu <= 1.5, cpu


def test_flink_pods_merge_the_image_defaults_before_starting() -> None:
    """The container runs `tfflink flink-exec` first: the image's Flink config.yaml (Java 17's
    --add-opens) with our keys on top, written to FLINK_CONF_DIR."""
    c = m.jobmanager_deployment(job_ref(), 1)["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:5] == ["tfflink", "flink-exec", "--config-dir", "/opt/tfflink/config", "--"]
    assert c["args"][5:] == ["/opt/flink/bin/jobmanager.sh", "start-foreground"]
    assert {"name": "FLINK_CONF_DIR", "value": "/opt/tfflink/conf"} in c["env"]


def test_pod_template_comes_from_the_spec() -> None:
    ref = job_ref(
        kubernetes={
            "image": "registry.example/tfflink:1.2",
            "imagePullPolicy": "Always",
            "nodeSelector": {"pool": "gpu"},
            "imagePullSecrets": ["regcred"],
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "podLabels": {"team": "search"},
            "podAnnotations": {"prometheus.io/scrape": "true"},
            "env": [{"name": "HADOOP_USER_NAME", "value": "tf"}],
        },
        flink={"taskManager": {"memory": "4g", "cpu": 3}},
    )
    tm = m.taskmanager_deployment(ref, 1)["spec"]["template"]
    pod, c = tm["spec"], tm["spec"]["containers"][0]
    assert c["image"] == "registry.example/tfflink:1.2" and c["imagePullPolicy"] == "Always"
    assert c["args"][5:7] == ["/opt/flink/bin/taskmanager.sh", "start-foreground"]
    assert {"name": "HADOOP_USER_NAME", "value": "tf"} in c["env"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["serviceAccountName"] == "mnist-flink"
    assert tm["metadata"]["labels"]["team"] == "search"
    assert tm["metadata"]["annotations"] == {"prometheus.io/scrape": "true"}


def test_rbac_allows_only_the_rendezvous_configmap(ref: m.JobRef) -> None:
    role = m.role(ref)
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["mnist-rendezvous"],
            "verbs": ["get", "patch", "update"],
        }
    ]
    binding = m.role_binding(ref)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mnist-flink", "namespace": "team-a"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_a_user_service_account_is_bound_not_created() -> None:
    ref = job_ref(kubernetes={"serviceAccountName": "tf-runner"})
    assert m.service_account(ref) is None
    assert "ServiceAccount" not in [o["kind"] for o in m.job_objects(ref)]
    assert m.role_binding(ref)["subjects"][0]["name"] == "tf-runner"
    assert m.jobmanager_deployment(ref, 1)["spec"]["template"]["spec"]["serviceAccountName"] == "tf-runner"


def test_submitter_runs_tfflink_submit_once(ref: m.JobRef) -> None:
    job = m.submitter_job(ref, 2)
    assert job["metadata"]["name"] == "mnist-submit-2"
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    c = pod["containers"][0]
    assert c["args"][5:] == [
        "tfflink",
        "submit",
        "/opt/tfflink/config/job.yaml",
        "--base-dir",
        "/opt/tfflink/job",
        "--flink-address",
        "mnist-jobmanager:8081",
        "--rendezvous",
        "configmap://team-a/mnist-rendezvous",
        "--restarts-done",
        "0",
        "--workdir",
        "/tmp/tfflink-submit",
        "--result-file",
        "/dev/termination-log",
        "--token-file",
        "/opt/tfflink/token/token",
    ]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert m.submitter_job(ref, 3, restarts_done=2)["spec"]["template"]["spec"]["containers"][0]["args"][15] == "2"


def test_job_file_round_trips_through_the_spec_loader(ref: m.JobRef) -> None:
    from tfflink.spec.loader import parse_job

    doc = yaml.safe_load(m.config_map(ref)["data"]["job.yaml"])
    again = parse_job(doc)
    assert again.spec == ref.job.spec


def test_service_exposes_rpc_blob_and_rest(ref: m.JobRef) -> None:
    svc = m.jobmanager_service(ref)
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"rpc": 6123, "blob": 6124, "rest": 8081}
    assert svc["spec"]["selector"] == {n.JOB: "mnist", n.COMPONENT: "jobmanager"}


def test_network_policy_admits_only_the_jobs_pods_and_the_operator(ref: m.JobRef) -> None:
    pol = m.network_policy(ref)["spec"]
    assert pol["podSelector"] == {"matchLabels": {"tfflink.dev/job": "mnist"}} and pol["policyTypes"] == ["Ingress"]
    own, rest, am = pol["ingress"]
    assert own == {"from": [{"podSelector": {"matchLabels": {"tfflink.dev/job": "mnist"}}}]}
    for rule in (rest, am):
        assert rule["from"] == [
            {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "tfflink-operator"}}}
        ]
    assert rest["ports"] == [{"protocol": "TCP", "port": 8081}]


def test_pods_meet_pod_security_restricted(ref: m.JobRef) -> None:
    for obj in (m.jobmanager_deployment(ref, 1), m.taskmanager_deployment(ref, 1), m.submitter_job(ref, 1)):
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {
            "type": "RuntimeDefault"
        }
        c = pod["containers"][0]["securityContext"]
        assert c["allowPrivilegeEscalation"] is False and c["capabilities"] == {"drop": ["ALL"]}
    assert m.jobmanager_deployment(ref, 1)["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_an_ingress_serves_the_flink_ui_only_when_asked() -> None:
    assert m.ingress(job_ref()) is None
    ref = job_ref(
        kubernetes={
            "ingress": {
                "host": "flink.example.com",
                "className": "internal",
                "annotations": {"nginx.ingress.kubernetes.io/auth-url": "https://auth"},
                "tlsSecretName": "flink-tls",
            }
        }
    )
    ing = m.ingress(ref)
    assert ing is not None and ing in m.job_objects(ref)
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == "flink.example.com" and ing["spec"]["ingressClassName"] == "internal"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "mnist-jobmanager", "port": {"number": 8081}}}
    assert ing["spec"]["tls"] == [{"hosts": ["flink.example.com"], "secretName": "flink-tls"}]
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"] == "https://auth"


def test_the_am_token_lives_only_in_the_attempts_secret(ref: m.JobRef) -> None:
    token = m.new_token()
    secret = m.token_secret(ref, 2, token)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "mnist-token-2"
    assert secret["stringData"] == {"token": token}
    assert secret["metadata"]["labels"][n.ATTEMPT] == "2"  # deleted with the attempt
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"  # and collected with the job
    sub = m.submitter_job(ref, 2)
    pod = sub["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][c["args"].index("--token-file") + 1] == "/opt/tfflink/token/token"
    assert {"name": "tfflink-token", "mountPath": "/opt/tfflink/token", "readOnly": True} in c["volumeMounts"]
    assert {"name": "tfflink-token", "secret": {"secretName": "mnist-token-2", "defaultMode": 0o440}} in pod["volumes"]
    # never in clear anywhere else: no ConfigMap, no pod spec, no env
    others = m.job_objects(ref) + m.cluster_objects(ref, 2) + [sub]
    assert token not in yaml.safe_dump(others)
    assert m.new_token() != token


def test_pods_run_on_a_read_only_root_with_scratch_dirs(ref: m.JobRef) -> None:
    pods = [d["spec"]["template"]["spec"] for d in m.cluster_objects(ref, 1) + [m.submitter_job(ref, 1)]]
    for pod in pods:
        (c,) = pod["containers"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {mt["mountPath"]: mt["name"] for mt in c["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for path in ("/tmp", "/opt/flink/log", "/opt/tfflink/work", "/opt/tfflink/conf"):
            assert "emptyDir" in volumes[mounts[path]], path
        assert {"name": "HOME", "value": "/opt/tfflink/work"} in c["env"]
    # a user's template cannot take them over
    from tfflink.backends.kubernetes import podtemplate

    tmpl = {"spec": {"containers": [{"name": "main", "volumeMounts": [{"name": "x", "mountPath": "/tmp"}]}]}}
    (problem,) = podtemplate.problems(
        "spec.kubernetes.podTemplate", tmpl, "taskmanager", m.RESERVED_VOLUMES, m.RESERVED_PATHS
    )
    assert problem == "spec.kubernetes.podTemplate.spec.containers[0].volumeMounts[0].mountPath: /tmp is the operator's"


PVC_TEMPLATE = {
    "spec": {
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "runs"}}],
        "containers": [{"name": "main", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
    }
}


def tensorboard_objects(ref: m.JobRef) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in m.tensorboard_objects(ref)}


def test_tensorboard_is_a_per_job_deployment_service_and_policy_owned_by_the_job() -> None:
    ref = job_ref(tensorboard={"logDir": "/data/logs"}, kubernetes={"taskManagerPodTemplate": PVC_TEMPLATE})
    objs = tensorboard_objects(ref)
    assert sorted(objs) == ["Deployment", "NetworkPolicy", "Service"]
    for o in objs.values():
        assert [r["uid"] for r in o["metadata"]["ownerReferences"]] == ["uid-1"]
        labels = o["metadata"]["labels"]
        assert labels[n.JOB] == "mnist" and labels[n.COMPONENT] == "tensorboard" and labels[n.JOB_UID] == "uid-1"
        # no attempt: a full restart's teardown (by attempt label) and the operator's watches skip it
        assert n.ATTEMPT not in labels
    assert tensorboard_objects(job_ref()) == {}  # only with spec.tensorboard
    dep, svc, pol = objs["Deployment"], objs["Service"], objs["NetworkPolicy"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["replicas"] == 1 and n.ATTEMPT not in pod_labels
    assert svc["spec"]["selector"].items() <= pod_labels.items() and svc["spec"]["ports"][0]["port"] == 6006
    assert pol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert pol["spec"]["ingress"] == [{"from": [{"podSelector": {}}], "ports": [{"protocol": "TCP", "port": 6006}]}]
    assert m.tensorboard_url(ref) == "http://mnist-tensorboard.team-a.svc:6006"
    assert m.tensorboard_url(job_ref()) is None


def test_tensorboard_reads_the_taskmanagers_volume_read_only_as_a_restricted_pod() -> None:
    ref = job_ref(tensorboard={"logDir": "/data/logs"}, kubernetes={"taskManagerPodTemplate": PVC_TEMPLATE})
    pod = tensorboard_objects(ref)["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][:3] == ["tensorboard", "--logdir", "/data/logs"]
    assert c["args"][c["args"].index("--host") + 1] == "0.0.0.0"  # IPv4 pod IP: the Service and the probe
    assert c["args"][c["args"].index("--port") + 1] == "6006"
    assert c["readinessProbe"]["httpGet"]["port"] == 6006
    assert {"name": "data", "mountPath": "/data", "readOnly": True} in c["volumeMounts"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "runs"}} in pod["volumes"]
    mounts = {mt["mountPath"]: mt["name"] for mt in c["volumeMounts"]}
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}[mounts["/tmp"]]
    assert pod["securityContext"] == m.POD_SECURITY and c["securityContext"] == m.CONTAINER_SECURITY
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert c["image"] == ref.job.spec.kubernetes.image  # the runtime image: tensorboard comes with TF
    assert c["resources"] == {"requests": {"cpu": "0.05", "memory": "1024Mi"}, "limits": {"memory": "1024Mi"}}


def test_tensorboard_resources_come_from_the_spec() -> None:
    tb = {"logDir": "gs://bucket/logs", "resources": {"memory": "3Gi", "cpu": 0.5}}
    (c,) = tensorboard_objects(job_ref(tensorboard=tb))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert c["resources"] == {"requests": {"cpu": "0.5", "memory": "3072Mi"}, "limits": {"memory": "3072Mi"}}


def test_tensorboard_log_dir_relative_to_the_job_or_in_an_object_store() -> None:
    rel = job_ref(tensorboard={"logDir": "logs"})
    assert m.tensorboard_log_dir(rel) == "/opt/tfflink/job/logs"
    (problem,) = m.spec_problems(rel.job.spec)  # in the pod: TensorBoard's pod could not read it
    assert problem.startswith("spec.tensorboard.logDir: /opt/tfflink/job/logs is inside the TaskManager pod")
    uri = job_ref(tensorboard={"logDir": "gs://bucket/logs"})
    assert m.spec_problems(uri.job.spec) == []
    pod = tensorboard_objects(uri)["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"][2] == "gs://bucket/logs"
    assert [v["name"] for v in pod["volumes"]] == ["tfflink-tmp"]
    on_claim = job_ref(tensorboard={"logDir": "/data/logs"}, kubernetes={"taskManagerPodTemplate": PVC_TEMPLATE})
    assert m.spec_problems(on_claim.job.spec) == []
