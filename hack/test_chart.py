"""Assertions on the chart rendered by the real Helm engine (helm-python-sdk).

Run by hack/chart-check.sh: .venv/helm/bin/python -m pytest hack/test_chart.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import promql_parser
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chart_tool  # noqa: E402

ROOT = chart_tool.ROOT
NS = chart_tool.NAMESPACE
VALUES_DIR = ROOT / "hack" / "chart-values"
RESTORE_KINDS = ("rdsrestores", "hbrrestorejobs", "dbsrestoretasks")
KINDS = ("dbsbackupplans", "rdsbackups", "hbrbackupjobs", "rdsbackupschedules", "hbrbackupschedules") + RESTORE_KINDS
VAP = "aliyun-backup-operator-deletion-protection"
# ValidatingAdmissionPolicy v1 exists from Kubernetes 1.30 (the chart leaves it out before).
VAP_KINDS = {("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"), ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")}

# Exactly the calls the operator makes (tests/chart_rbac.rs records them against kube-sandbox):
#   its kinds (restores included): get/list/watch, patch (finalizers: JSON patch); their
#   status: patch (SSA); create/delete only on the children schedules make, never on restores;
#   Secrets: get/list/watch; Events: events.k8s.io create/patch (kube-runtime Recorder);
#   Leases: create, and get/update of the one lease, in its own namespace only.
WORKLOAD_RULES = {
    ("backup.aliyun.dev", KINDS, ("get", "list", "watch", "patch"), ()),
    ("backup.aliyun.dev", tuple(f"{k}/status" for k in KINDS), ("patch",), ()),
    ("backup.aliyun.dev", ("rdsbackups", "hbrbackupjobs"), ("create", "delete"), ()),
    ("", ("secrets",), ("get", "list", "watch"), ()),
    ("events.k8s.io", ("events",), ("create", "patch"), ()),
}
# Cluster-wide installs also read Namespaces (their default-deletion-policy annotation).
NAMESPACE_RULES = {("", ("namespaces",), ("get",), ())}
LEASE_RULES = {
    ("coordination.k8s.io", ("leases",), ("create",), ()),
    ("coordination.k8s.io", ("leases",), ("get", "update"), ("aliyun-backup-operator",)),
}


def values(name: str) -> dict[str, Any]:
    return chart_tool.load_values(VALUES_DIR / f"{name}.yaml")


def render(vals: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return chart_tool.objects(vals)


def only(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def all_of(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def rules(role: dict[str, Any]) -> set[tuple]:
    out = set()
    for r in role["rules"]:
        assert set(r) <= {"apiGroups", "resources", "verbs", "resourceNames"}, r
        assert len(r["apiGroups"]) == 1, r
        out.add((r["apiGroups"][0], tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ()))))
    return out


def container(objs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = only(objs, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return pod["containers"][0]


def env(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e for e in container(objs).get("env", [])}


def args(objs: list[dict[str, Any]]) -> list[str]:
    return container(objs)["args"]


def assert_restricted(pod: dict[str, Any]) -> None:
    """The Pod Security Standard "restricted" profile, checked field by field."""
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key), key
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] != 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
    for v in pod.get("volumes", []):
        assert set(v) - {"name"} <= allowed_volumes, v
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["runAsNonRoot"] is True
        assert sc.get("privileged", False) is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not any(p.get("hostPort") for p in c.get("ports", []))


# ---------------------------------------------------------------- default values


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


def test_default_objects(default):
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in default)
    assert kinds == sorted([
        ("ClusterRole", "aliyun-backup-operator"),
        ("ClusterRole", "aliyun-backup-operator-view"),
        ("ClusterRole", "aliyun-backup-operator-edit"),
        ("ClusterRoleBinding", "aliyun-backup-operator"),
        ("ValidatingAdmissionPolicy", VAP),
        ("ValidatingAdmissionPolicyBinding", VAP),
        ("Deployment", "aliyun-backup-operator"),
        ("PodDisruptionBudget", "aliyun-backup-operator"),
        ("Role", "aliyun-backup-operator-leader-election"),
        ("RoleBinding", "aliyun-backup-operator-leader-election"),
        ("Service", "aliyun-backup-operator-metrics"),
        ("ServiceAccount", "aliyun-backup-operator"),
    ])
    for o in default:
        if not o["kind"].startswith("Cluster") and o["kind"] not in {k for _, k in VAP_KINDS}:
            assert o["metadata"]["namespace"] == NS, o["kind"]
        assert o["metadata"]["labels"]["app.kubernetes.io/name"] == "aliyun-backup-operator"


def test_chart_version_follows_the_cargo_package():
    cargo = (ROOT / "Cargo.toml").read_text()
    version = next(
        line.split("=", 1)[1].strip().strip('"')
        for line in cargo.split("\n")
        if line.startswith("version = ")
    )
    chart = yaml.safe_load((chart_tool.CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version
    assert chart["version"] == version


def test_default_deployment(default):
    dep = only(default, "Deployment")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    assert_restricted(pod)
    assert pod["serviceAccountName"] == "aliyun-backup-operator"
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    c = container(default)
    chart = yaml.safe_load((chart_tool.CHART / "Chart.yaml").read_text())
    assert c["image"] == f"ghcr.io/aliyun-backup-operator/aliyun-backup-operator:{chart['appVersion']}"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert c["args"] == [
        "run",
        "--metrics-addr=0.0.0.0:8080",
        "--health-addr=0.0.0.0:8081",
        "--log-format=json",
        "--log-level=info",
        "--cloud-qps=10",
        "--cloud-burst=20",
        "--max-concurrent-reconciles=8",
        "--default-deletion-policy=Retain",
        "--leader-election=true",
        "--leader-election-lease=aliyun-backup-operator",
    ]
    e = env(default)
    assert set(e) == {"POD_NAME", "POD_NAMESPACE"}, "no credentials and all namespaces by default"
    assert e["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert e["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    # replicas spread over nodes by default
    aff = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert aff["podAffinityTerm"]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_default_rbac_is_exactly_what_the_operator_needs(default):
    cr = only(default, "ClusterRole", "aliyun-backup-operator")
    assert rules(cr) == WORKLOAD_RULES | NAMESPACE_RULES
    lease = only(default, "Role", "aliyun-backup-operator-leader-election")
    assert lease["metadata"]["namespace"] == NS
    assert rules(lease) == LEASE_RULES
    for kind, role in (("ClusterRoleBinding", cr), ("RoleBinding", lease)):
        b = only(default, kind)
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"], "name": role["metadata"]["name"]}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "aliyun-backup-operator", "namespace": NS}]
    # nothing grants write on Secrets or anything cluster-wide beyond our kinds; the operator
    # never creates or deletes a restore (people do)
    for r in cr["rules"]:
        if set(r["resources"]) & set(RESTORE_KINDS):
            assert not {"create", "delete", "deletecollection", "update", "*"} & set(r["verbs"]), r
        if r["resources"] == ["secrets"]:
            assert r["verbs"] == ["get", "list", "watch"]
        assert "*" not in r["verbs"] and "*" not in r["resources"] and "*" not in r["apiGroups"]


def test_rbac_resources_match_the_crds():
    crds = [yaml.safe_load(p.read_text()) for p in chart_tool.crd_files(chart_tool.CRDS)]
    served = {(c["spec"]["group"], c["spec"]["names"]["plural"]) for c in crds if c and c.get("kind") == "CustomResourceDefinition"}
    assert served == {("backup.aliyun.dev", k) for k in KINDS}


def test_default_service_and_pdb(default):
    dep = only(default, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = only(default, "Service")
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    pdb = only(default, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    sa = only(default, "ServiceAccount")
    assert "annotations" not in sa["metadata"]


# ---------------------------------------------------------------- non-default values


def test_namespace_scoped_install():
    objs = render(values("namespaced"))
    assert not all_of(objs, "ClusterRole") and not all_of(objs, "ClusterRoleBinding"), "no cluster-wide RBAC"
    roles = {r["metadata"]["namespace"]: r for r in all_of(objs, "Role")}
    assert set(roles) == {"team-a", "team-b"}, "no Lease Role without leader election"
    for ns, role in roles.items():
        assert rules(role) == WORKLOAD_RULES
        b = only([o for o in all_of(objs, "RoleBinding") if o["metadata"]["namespace"] == ns], "RoleBinding")
        assert b["roleRef"]["name"] == role["metadata"]["name"] and b["roleRef"]["kind"] == "Role"
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "aliyun-backup-operator", "namespace": NS}]
    assert not all_of(objs, "PodDisruptionBudget")
    dep = only(objs, "Deployment")
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert env(objs)["WATCH_NAMESPACES"]["value"] == "team-a,team-b"
    assert args(objs) == [
        "run",
        "--metrics-addr=0.0.0.0:8080",
        "--health-addr=0.0.0.0:8081",
        "--log-format=text",
        "--log-level=debug",
        "--cloud-qps=5",
        "--cloud-burst=7",
        "--max-concurrent-reconciles=3",
        "--default-deletion-policy=Retain",
        "--leader-election=false",
        "--endpoint=dbs=https://dbs-api.cn-hangzhou.aliyuncs.com",
        "--endpoint=rds=https://rds-vpc.cn-hangzhou.aliyuncs.com",
    ]


def test_rrsa_webhook_and_monitoring():
    objs = render(values("rrsa-webhook"))
    sa = only(objs, "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"pod-identity.alibabacloud.com/role-name": "aliyun-backup-operator"}
    # ack-pod-identity-webhook injects the variables and the token volume itself
    assert not [k for k in env(objs) if k.startswith("ALIBABA_CLOUD_")]
    assert_restricted(only(objs, "Deployment")["spec"]["template"]["spec"])

    sm = only(objs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    svc = only(objs, "Service")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NS]}
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"

    pr = only(objs, "PrometheusRule")
    alerts = {r["alert"]: r for g in pr["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "AliyunBackupFailed",
        "AliyunBackupStale",
        "AliyunBackupStuck",
        "AliyunBackupCloudThrottled",
        "AliyunBackupCredentialsInvalid",
        "AliyunBackupCredentialsUnavailable",
        "AliyunBackupRPOMissed",
        "AliyunBackupScheduleNotRunning",
        "AliyunBackupCredentialsRefused",
        "AliyunBackupRestoreFailed",
    }
    assert "aliyun_backup_rpo_met" in alerts["AliyunBackupRPOMissed"]["expr"]
    assert "aliyun_backup_next_schedule_timestamp_seconds" in alerts["AliyunBackupScheduleNotRunning"]["expr"]
    restores = 'kind=~"RdsRestore|HbrRestoreJob|DbsRestoreTask"'
    assert alerts["AliyunBackupFailed"]["expr"] == (
        'max by (kind, namespace, name) (aliyun_backup_resource_phase{phase="Failed", '
        'kind!~"RdsRestore|HbrRestoreJob|DbsRestoreTask"}) == 1'), "a failed restore alerts once, as AliyunBackupRestoreFailed"
    assert alerts["AliyunBackupRestoreFailed"]["expr"] == (
        "max by (kind, namespace, name) (aliyun_backup_resource_phase{"
        + restores + ', phase=~"Failed|Cancelled|PartiallySucceeded"}) == 1')
    assert alerts["AliyunBackupRestoreFailed"]["for"] == alerts["AliyunBackupFailed"]["for"] == "5m"
    stuck = alerts["AliyunBackupStuck"]["expr"]
    assert 'aliyun_backup_resource_phase{kind=~"RdsBackup|HbrBackupJob", phase=~"Pending|Creating|Running"}' in stuck
    assert "aliyun_backup_resource_phase{" + restores + ', phase=~"Pending|Starting|Restoring"}' in stuck
    assert "aliyun_backup_last_success_timestamp_seconds" in alerts["AliyunBackupStale"]["expr"]
    assert "> 129600" in alerts["AliyunBackupStale"]["expr"]
    assert 'phase="Paused"' in alerts["AliyunBackupStale"]["expr"]
    assert "aliyun_backup_cloud_throttled_total" in alerts["AliyunBackupCloudThrottled"]["expr"]
    assert "aliyun_backup_cloud_requests_total" in alerts["AliyunBackupCredentialsInvalid"]["expr"]
    assert "aliyun_backup_reconcile_errors_total" in alerts["AliyunBackupCredentialsUnavailable"]["expr"]
    assert alerts["AliyunBackupCredentialsRefused"]["expr"] == "max by (credential) (aliyun_backup_cloud_credential_breaker_open) > 0"
    assert alerts["AliyunBackupCredentialsRefused"]["for"] == "2m"
    metrics = set()
    for a in alerts.values():
        assert a["labels"] == {"severity": "warning"}
        promql_parser.parse_duration(a["for"])
        # a real PromQL parser accepts every expression
        promql_parser.parse(a["expr"])
        metrics |= set(re.findall(r"aliyun_backup_[a-z_]+", a["expr"]))
        # Prometheus templates survive Helm templating unchanged
        assert "{{ $labels." in a["annotations"]["summary"]
    # the metrics the alerts need from the operator (docs/install.md, "Monitoring")
    assert metrics == {
        "aliyun_backup_resource_phase",
        "aliyun_backup_rpo_met",
        "aliyun_backup_next_schedule_timestamp_seconds",
        "aliyun_backup_last_success_timestamp_seconds",
        "aliyun_backup_resource_created_timestamp_seconds",
        "aliyun_backup_cloud_throttled_total",
        "aliyun_backup_cloud_requests_total",
        "aliyun_backup_reconcile_errors_total",
        "aliyun_backup_cloud_credential_breaker_open",
    }


def test_rrsa_manual():
    objs = render(values("rrsa-manual"))
    e = env(objs)
    assert e["ALIBABA_CLOUD_ROLE_ARN"]["value"] == "acs:ram::1234567890123456:role/aliyun-backup-operator"
    assert e["ALIBABA_CLOUD_OIDC_PROVIDER_ARN"]["value"] == "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0123456789abcdef"
    token_file = e["ALIBABA_CLOUD_OIDC_TOKEN_FILE"]["value"]
    assert e["ALIBABA_CLOUD_STS_REGION"]["value"] == "cn-hangzhou"
    assert e["ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"]["value"] == "true"
    pod = only(objs, "Deployment")["spec"]["template"]["spec"]
    assert_restricted(pod)
    mount = next(m for m in container(objs)["volumeMounts"] if m["name"] == "rrsa-oidc-token")
    assert token_file == mount["mountPath"] + "/token"
    assert mount["readOnly"] is True
    vol = next(v for v in pod["volumes"] if v["name"] == "rrsa-oidc-token")
    src = vol["projected"]["sources"][0]["serviceAccountToken"]
    assert src == {"path": "token", "audience": "sts.aliyuncs.com", "expirationSeconds": 3600}
    assert "annotations" not in only(objs, "ServiceAccount")["metadata"]


def test_existing_secret_endpoint_override_and_digest():
    objs = render(values("existing-secret"))
    e = env(objs)
    for var, key, optional in (
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", "accessKeyId", None),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "accessKeySecret", None),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", "securityToken", True),
    ):
        ref = e[var]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "aliyun-credentials" and ref["key"] == key
        assert ref.get("optional") is optional
        assert "value" not in e[var]
    c = container(objs)
    assert c["image"] == "registry.example.com/aliyun-backup-operator@sha256:" + "0123456789abcdef" * 4
    assert "--endpoint-override=http://aliyun-emulator.test.svc:8080" in c["args"]
    assert c["args"][-1] == "--log-level=aliyun_backup_operator=trace"
    assert e["WATCH_NAMESPACES"]["value"] == "backups"
    # watching one namespace with the default cluster scope keeps the ClusterRole
    assert rules(only(objs, "ClusterRole", "aliyun-backup-operator")) == WORKLOAD_RULES | NAMESPACE_RULES
    # a paused namespace and the Delete default reach the operator's flags
    assert e["PAUSED_NAMESPACES"]["value"] == "frozen,incident"
    assert "--default-deletion-policy=Delete" in c["args"]


def test_user_roles_aggregate_into_view_edit_admin(default):
    view = only(default, "ClusterRole", "aliyun-backup-operator-view")
    edit = only(default, "ClusterRole", "aliyun-backup-operator-edit")
    agg = "rbac.authorization.k8s.io/aggregate-to-"
    assert {k: v for k, v in view["metadata"]["labels"].items() if k.startswith(agg)} == {
        agg + "view": "true", agg + "edit": "true", agg + "admin": "true"}
    assert {k: v for k, v in edit["metadata"]["labels"].items() if k.startswith(agg)} == {
        agg + "edit": "true", agg + "admin": "true"}
    read = ("get", "list", "watch")
    assert rules(view) == {
        ("backup.aliyun.dev", KINDS, read, ()),
        ("backup.aliyun.dev", tuple(f"{k}/status" for k in KINDS), read, ()),
    }
    assert rules(edit) == {
        ("backup.aliyun.dev", KINDS, read + ("create", "update", "patch", "delete", "deletecollection"), ()),
    }
    # status is read-only for users: no role for people writes it
    for role in (view, edit):
        for r in role["rules"]:
            if any(x.endswith("/status") for x in r["resources"]):
                assert set(r["verbs"]) <= set(read)
    # no binding: aggregation does the granting
    for b in all_of(default, "ClusterRoleBinding"):
        assert b["roleRef"]["name"] == "aliyun-backup-operator"
    objs = render({"rbac": {"aggregateToDefaultRoles": False}})
    assert [r["metadata"]["name"] for r in all_of(objs, "ClusterRole")] == ["aliyun-backup-operator"]


def test_deletion_protection_policy(default):
    vap = only(default, "ValidatingAdmissionPolicy", VAP)
    spec = vap["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [{
        "apiGroups": ["backup.aliyun.dev"], "apiVersions": ["*"], "operations": ["DELETE"], "resources": ["*"]}]
    (v,) = spec["validations"]
    assert "oldObject" in v["expression"] and "object." not in v["expression"].replace("oldObject.", "")
    assert "backup.aliyun.dev/deletion-protection" in v["message"]
    assert "\n" not in v["message"] and "\n" not in v["messageExpression"]
    binding = only(default, "ValidatingAdmissionPolicyBinding", VAP)
    assert binding["spec"] == {"policyName": VAP, "validationActions": ["Deny"]}
    # off
    objs = render({"deletionProtection": {"enabled": False}})
    assert not [o for o in objs if (o["apiVersion"], o["kind"]) in VAP_KINDS]
    # a namespace-scoped install binds the policy to its namespaces only
    objs = render(values("namespaced"))
    binding = only(objs, "ValidatingAdmissionPolicyBinding", VAP)
    assert binding["spec"]["matchResources"] == {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]}}


def test_watch_selector_value(default):
    assert "WATCH_SELECTOR" not in env(default)
    objs = render({"watchSelector": "team=payments,tier in (prod,staging)"})
    assert env(objs)["WATCH_SELECTOR"] == {"name": "WATCH_SELECTOR", "value": "team=payments,tier in (prod,staging)"}


@pytest.mark.parametrize(
    ("vals", "message"),
    [
        ({"replicaCount": 2, "leaderElection": {"enabled": False}}, "leaderElection.enabled"),
        ({"rbac": {"scope": "namespace"}}, "watchNamespaces"),
        ({"credentials": {"existingSecret": "s", "rrsa": {"enabled": True, "roleName": "r"}}}, "only one of"),
        ({"credentials": {"rrsa": {"enabled": True}}}, "roleName"),
        ({"credentials": {"rrsa": {"enabled": True, "webhook": False}}}, "roleArn"),
        ({"serviceMonitor": {"enabled": True}, "metrics": {"service": {"enabled": False}}}, "metrics.service.enabled"),
    ],
)
def test_contradictory_values_fail_with_a_message(vals, message):
    with pytest.raises(helm.HelmError) as err:
        render(vals)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "vals",
    [
        {"rbac": {"scope": "everywhere"}},
        {"logging": {"format": "xml"}},
        {"cloud": {"endpoints": {"oss": "https://oss.example.com"}}},
        {"cloud": {"qps": 0}},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"watchSelector": "a=b\nc=d"},
        {"deletionProtection": {"enabled": "yes"}},
        {"rbac": {"aggregateToDefaultRoles": "true"}},
        {"replicas": 2},
    ],
)
def test_schema_rejects_bad_values(vals):
    with pytest.raises(helm.HelmError):
        render(vals)


# Prometheus Operator kinds have no schema in kubernetes-validate; checked field by field above.
NO_SCHEMA = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}


@pytest.mark.parametrize("kube", ["1.28", "1.34"])
@pytest.mark.parametrize("name", [None, "namespaced", "rrsa-webhook", "rrsa-manual", "existing-secret"])
def test_every_object_matches_the_kubernetes_schema(name, kube):
    """Strict OpenAPI validation (unknown fields fail) for the oldest and a current Kubernetes."""
    for obj in render(values(name) if name else None):
        if (obj["apiVersion"], obj["kind"]) in NO_SCHEMA:
            continue
        at = "1.30" if (obj["apiVersion"], obj["kind"]) in VAP_KINDS and kube < "1.30" else kube
        kubernetes_validate.validate(obj, at, strict=True)


def test_deploy_and_chart_crds_match_the_kubernetes_schema():
    deploy = ROOT / "deploy"
    for f in sorted(deploy.rglob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for obj in yaml.safe_load_all(f.read_text()):
            if obj:
                at = "1.30" if (obj["apiVersion"], obj["kind"]) in VAP_KINDS else "1.28"
                kubernetes_validate.validate(obj, at, strict=True)


# ---------------------------------------------------------------- deploy/ and GitOps files


def test_deploy_kustomization_lists_every_manifest():
    deploy = ROOT / "deploy"
    k = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    listed = set(k["resources"])
    on_disk = {str(p.relative_to(deploy)) for p in deploy.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == on_disk
    objs = [d for f in sorted(on_disk) for d in yaml.safe_load_all((deploy / f).read_text()) if d]
    assert len(all_of(objs, "CustomResourceDefinition")) == len(KINDS)
    assert only(objs, "Namespace")["metadata"]["name"] == NS
    # the plain manifests are exactly the default render
    canon = lambda o: yaml.safe_dump(o, sort_keys=True)  # noqa: E731
    plain = [o for o in objs if o["kind"] not in ("CustomResourceDefinition", "Namespace")]
    assert sorted(map(canon, plain)) == sorted(map(canon, render()))


def yaml_blocks(markdown: str) -> list[Any]:
    """The parsed ```yaml fenced blocks of a Markdown file."""
    out, block = [], None
    for line in markdown.split("\n"):
        if block is None and line.strip() == "```yaml":
            block = []
        elif block is not None and line.strip() == "```":
            out.append(yaml.safe_load("\n".join(block) + "\n"))
            block = None
        elif block is not None:
            block.append(line)
    return out


def test_gitops_files_are_what_the_docs_and_the_patch_show():
    lua = chart_tool.ARGOCD_LUA.read_text()
    keys = {f"resource.customizations.health.backup.aliyun.dev_{k}" for k in chart_tool.GITOPS_KINDS}

    patch = yaml.safe_load(chart_tool.ARGOCD_PATCH.read_text())
    assert set(patch["data"]) == keys
    assert all(v == lua for v in patch["data"].values())

    blocks = yaml_blocks((ROOT / "docs" / "gitops.md").read_text())
    cms = [b for b in blocks if isinstance(b, dict) and b.get("kind") == "ConfigMap"]
    assert cms, "docs/gitops.md shows the argocd-cm ConfigMap"
    for cm in cms:
        assert cm["metadata"] == {"name": "argocd-cm", "namespace": "argocd", "labels": {"app.kubernetes.io/part-of": "argocd"}}
        assert cm["data"] and set(cm["data"]) <= keys
        assert all(v == lua for v in cm["data"].values())

    exprs = yaml.safe_load((chart_tool.CHART / "files" / "flux-healthcheckexprs.yaml").read_text())
    flux_kinds = ("RdsBackup", "HbrBackupJob", "DbsBackupPlan", "RdsBackupSchedule", "HbrBackupSchedule", "RdsRestore", "HbrRestoreJob", "DbsRestoreTask")
    assert [(e["apiVersion"], e["kind"]) for e in exprs] == [("backup.aliyun.dev/v1alpha1", k) for k in flux_kinds]
    assert sorted(flux_kinds) == sorted(chart_tool.GITOPS_KINDS), "Argo CD and Flux cover the same kinds"
    for e in exprs:
        assert set(e) == {"apiVersion", "kind", "inProgress", "failed", "current"}
        for field in ("inProgress", "failed", "current"):
            assert e[field].count("(") == e[field].count(")"), (e["kind"], field)
    shown = [b["spec"]["healthCheckExprs"] for b in blocks if isinstance(b, dict) and "healthCheckExprs" in b.get("spec", {})]
    assert shown == [exprs], "docs/gitops.md embeds files/flux-healthcheckexprs.yaml"


def test_auto_resolve_lost_creates_is_on_by_default_and_can_be_turned_off(default):
    # On by default: the operator's own default applies (no variable).
    assert "AUTO_RESOLVE_LOST_CREATES" not in env(default)
    e = env(render({"autoResolveLostCreates": False}))
    assert e["AUTO_RESOLVE_LOST_CREATES"]["value"] == "false"
