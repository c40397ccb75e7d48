"""deploy/k8s: valid Kubernetes, safe pods, and in step with the code.

1. Every built-in kind validates offline against the schemas kubernetes-validate bundles, in
   strict mode (an unknown or misspelt field fails), for the oldest Kubernetes we support (1.30:
   the preStop `sleep` action) and the newest it knows. A document whose schema is not found
   fails too: kubernetes-validate raises SchemaNotFoundError for it (its CLI only warns).
2. Custom resources (Strimzi, CloudNativePG, KEDA, Prometheus Operator) have no bundled schema;
   `CUSTOM_APIS` names the ones we use; `CUSTOM_KINDS` checks their essentials.
3. What the manifests must say about the system: hardened pods with probes and resources; a topic
   for every event type (add an event without a topic and this fails); per-service identity,
   database and ACLs that match what each service publishes and consumes; a subscriber that can
   read exactly two topics; alerts on metrics that exist.
"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from collections.abc import Callable

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version
from livskraft_contracts import DEAD_LETTER_TOPIC, DecisionRecorded, GatheringHeld
from prometheus_client.metrics import MetricWrapperBase

from services.catalog import PORTS
from services.runtime import metrics
from services.runtime.kafka import all_topics
from services.runtime.settings import Settings
from tests.deploy.manifests import (
    K8S,
    ROOT,
    Acls,
    Manifest,
    kustomization,
    manifest_files,
    manifests,
    matches,
    of_kind,
    one,
)

SERVICES = list(PORTS)
K8S_VERSIONS = ["1.30.0", latest_version()]
HTTP_PORT = 8080
KAFKA = "livskraft"  # the Kafka resource's name
# The custom resources we use; anything else must be a built-in kind with a bundled schema.
CUSTOM_APIS = {
    ("kafka.strimzi.io/v1", "Kafka"),
    ("kafka.strimzi.io/v1", "KafkaNodePool"),
    ("kafka.strimzi.io/v1", "KafkaTopic"),
    ("kafka.strimzi.io/v1", "KafkaUser"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}


def _id(m: Manifest) -> str:
    return str(m)


def service_user(service: str) -> Manifest:
    return one("KafkaUser", f"livskraft-{service}")


def consumed_topics(service: str) -> set[str]:
    spec = importlib.import_module(f"services.{service}.app").SPEC
    return {event.topic() for event in spec.consumes.event_types}


def pod_spec(deployment: Manifest) -> dict:
    return deployment.spec["template"]["spec"]


def container(deployment: Manifest) -> dict:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1, f"{deployment}: one container expected"
    return containers[0]


def env_var(deployment: Manifest, name: str) -> dict:
    found = [e for e in container(deployment).get("env", []) if e["name"] == name]
    assert found, f"{deployment}: no env {name}"
    return found[0]


# --- 1. Built-in kinds: the Kubernetes schemas ---------------------------------------------------


def test_every_document_has_a_kind_and_a_name() -> None:
    assert manifests(), "no manifests found in deploy/k8s"
    for m in manifests():
        assert {"apiVersion", "kind", "metadata"} <= m.doc.keys(), m.file
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", m.name), f"{m}: bad name"


def test_names_are_unique_per_kind() -> None:
    seen = [(m.kind, m.name) for m in manifests()]
    assert len(seen) == len(set(seen)), sorted(k for k in seen if seen.count(k) > 1)


BUILT_IN = [m for m in manifests() if (m.doc["apiVersion"], m.kind) not in CUSTOM_APIS]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("m", BUILT_IN, ids=_id)
def test_built_in_kinds_match_the_kubernetes_schema(m: Manifest, version: str) -> None:
    problem = None
    try:
        kubernetes_validate.validate(m.doc, version, strict=True)
    except SchemaNotFoundError as error:
        problem = f"{error.message}: neither a built-in kind nor one of CUSTOM_APIS"
    except kubernetes_validate.ValidationError as error:  # its text holds the whole schema
        problem = f"{'.'.join(str(p) for p in error.path)}: {error.message}"
    if problem:
        pytest.fail(f"{m}: {problem}", pytrace=False)


def test_the_schema_check_is_strict_and_fails_on_unknown_kinds() -> None:
    """The validator itself: a misspelt field fails, and so does a kind it has no schema for."""
    deployment = yaml.safe_load(yaml.safe_dump(of_kind("Deployment")[0].doc))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 40
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    with pytest.raises(SchemaNotFoundError):
        kubernetes_validate.validate(one("Kafka", KAFKA).doc, K8S_VERSIONS[0], strict=True)


# --- 2. Custom kinds: the essentials -------------------------------------------------------------


def _keys_within(m: Manifest, where: dict, allowed: set[str], path: str = "spec") -> None:
    unknown = set(where) - allowed
    assert not unknown, f"{m}: unknown keys in {path}: {sorted(unknown)}"


def _of_this_cluster(m: Manifest) -> None:
    labels = m.doc["metadata"].get("labels", {})
    assert labels.get("strimzi.io/cluster") == KAFKA, f"{m}: Strimzi ignores it without the label"


def check_kafka(m: Manifest) -> None:
    _keys_within(
        m,
        m.spec,
        {
            "kafka",
            "entityOperator",
            "clusterCa",
            "clientsCa",
            "cruiseControl",
            "kafkaExporter",
            "maintenanceTimeWindows",
        },
    )
    kafka = m.spec["kafka"]
    assert kafka["listeners"], f"{m}: no listeners"
    for listener in kafka["listeners"]:
        assert {"name", "port", "type", "tls"} <= listener.keys(), f"{m}: {listener}"
        assert re.fullmatch(r"[a-z0-9]{1,11}", listener["name"]), f"{m}: listener name"
        assert listener["tls"] and listener["authentication"]["type"] == "tls", (
            f"{m}: listener {listener['name']} must require client certificates"
        )
    assert kafka["authorization"]["type"] == "simple", f"{m}: ACLs must be enforced"
    config = kafka["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["auto.create.topics.enable"] is False
    assert {"topicOperator", "userOperator"} <= m.spec["entityOperator"].keys()
    assert not {"replicas", "storage", "zookeeper"} & kafka.keys(), f"{m}: set in the node pool"


def check_node_pool(m: Manifest) -> None:
    _of_this_cluster(m)
    _keys_within(m, m.spec, {"replicas", "storage", "roles", "resources", "jvmOptions", "template"})
    assert m.spec["replicas"] == 3
    assert set(m.spec["roles"]) == {"controller", "broker"}
    assert m.spec["storage"]["type"] in {"jbod", "persistent-claim", "ephemeral"}


def check_topic(m: Manifest) -> None:
    _of_this_cluster(m)
    _keys_within(m, m.spec, {"topicName", "partitions", "replicas", "config"})
    assert isinstance(m.spec["partitions"], int) and isinstance(m.spec["replicas"], int)


OPERATIONS = {
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
}


def check_user(m: Manifest) -> None:
    _of_this_cluster(m)
    _keys_within(m, m.spec, {"userName", "authentication", "authorization", "quotas", "template"})
    assert m.spec["authentication"]["type"] in {"tls", "tls-external", "scram-sha-512"}
    assert m.spec["authorization"]["type"] == "simple"
    for rule in m.spec["authorization"]["acls"]:
        _keys_within(m, rule, {"type", "resource", "host", "operations"}, "an ACL rule")
        assert rule["resource"]["type"] in {"topic", "group", "cluster", "transactionalId"}
        assert rule["resource"].get("patternType", "literal") in {"literal", "prefix"}
        assert rule["operations"] and set(rule["operations"]) <= OPERATIONS, f"{m}: {rule}"


def check_postgres_cluster(m: Manifest) -> None:
    assert m.spec["instances"] == 3, f"{m}: one primary and two standbys"
    assert m.spec["storage"]["size"]
    initdb = m.spec["bootstrap"]["initdb"]
    assert initdb["database"] and initdb["owner"]


def check_scaled_object(m: Manifest) -> None:
    _keys_within(
        m,
        m.spec,
        {
            "scaleTargetRef",
            "pollingInterval",
            "cooldownPeriod",
            "initialCooldownPeriod",
            "idleReplicaCount",
            "minReplicaCount",
            "maxReplicaCount",
            "fallback",
            "advanced",
            "triggers",
        },
    )
    one("Deployment", m.spec["scaleTargetRef"]["name"])
    assert m.spec["triggers"], f"{m}: no triggers"
    for trigger in m.spec["triggers"]:
        assert trigger["type"] == "kafka"
        assert {"bootstrapServers", "consumerGroup", "lagThreshold"} <= trigger["metadata"].keys()
        assert all(isinstance(v, str) for v in trigger["metadata"].values()), (
            f"{m}: KEDA trigger metadata values are strings"
        )
        one("TriggerAuthentication", trigger["authenticationRef"]["name"])


def check_trigger_authentication(m: Manifest) -> None:
    for ref in m.spec["secretTargetRef"]:
        assert set(ref) == {"parameter", "name", "key"}, f"{m}: {ref}"


def check_pod_monitor(m: Manifest) -> None:
    assert m.spec["selector"]["matchLabels"]
    for endpoint in m.spec["podMetricsEndpoints"]:
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"


def check_prometheus_rule(m: Manifest) -> None:
    for group in m.spec["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            _keys_within(
                m,
                rule,
                {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"},
                "an alerting rule",
            )
            assert rule["alert"] and rule["expr"]
            assert rule["labels"]["severity"] in {"warning", "critical"}


CUSTOM_KINDS: dict[tuple[str, str], Callable[[Manifest], None]] = {
    ("kafka.strimzi.io/v1", "Kafka"): check_kafka,
    ("kafka.strimzi.io/v1", "KafkaNodePool"): check_node_pool,
    ("kafka.strimzi.io/v1", "KafkaTopic"): check_topic,
    ("kafka.strimzi.io/v1", "KafkaUser"): check_user,
    ("postgresql.cnpg.io/v1", "Cluster"): check_postgres_cluster,
    ("keda.sh/v1alpha1", "ScaledObject"): check_scaled_object,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): check_trigger_authentication,
    ("monitoring.coreos.com/v1", "PodMonitor"): check_pod_monitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): check_prometheus_rule,
}
CUSTOM = [m for m in manifests() if m not in BUILT_IN]


def test_every_custom_kind_has_its_checks() -> None:
    assert CUSTOM_KINDS.keys() == CUSTOM_APIS


@pytest.mark.parametrize("m", CUSTOM, ids=_id)
def test_custom_resources_have_their_essentials(m: Manifest) -> None:
    _keys_within(m, m.doc, {"apiVersion", "kind", "metadata", "spec"}, "the document")
    CUSTOM_KINDS[(m.doc["apiVersion"], m.kind)](m)


# --- 3a. The pods ---------------------------------------------------------------------------------


DEPLOYMENTS = of_kind("Deployment")


def test_every_service_has_a_deployment() -> None:
    assert sorted(d.name for d in DEPLOYMENTS) == sorted(SERVICES)


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_pods_run_as_non_root_on_a_read_only_root(d: Manifest) -> None:
    pod, box = pod_spec(d), container(d)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    context = box["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"] and "add" not in context["capabilities"]
    mounts = {v["mountPath"]: v["name"] for v in box["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], f"{d}: /tmp must be a writable emptyDir"


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_probes_ask_the_app_on_its_http_port(d: Manifest) -> None:
    box = container(d)
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports == {"http": HTTP_PORT}
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = box[probe]["httpGet"]
        assert get["port"] in ("http", HTTP_PORT), f"{d}: {probe} port"
        paths[probe] = get["path"]
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_pods_have_resources_and_shut_down_gracefully(d: Manifest) -> None:
    box = container(d)
    assert {"cpu", "memory"} <= box["resources"]["requests"].keys()
    assert "memory" in box["resources"]["limits"]
    pause = box["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = pod_spec(d)["terminationGracePeriodSeconds"]
    assert pause == 5 and grace == 40, f"{d}: preStop {pause} s, grace {grace} s"


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_each_pod_runs_its_service_from_the_one_image(d: Manifest) -> None:
    box = container(d)
    assert box["image"] == "livskraft", "the kustomization's `images:` sets name and tag"
    assert box["args"] == [d.name]
    assert env_var(d, "LIVSKRAFT_SERVICE")["value"] == d.name
    config = one("ConfigMap", box["envFrom"][0]["configMapRef"]["name"]).doc["data"]
    assert config["LIVSKRAFT_HTTP_PORT"] == str(HTTP_PORT) and config["LIVSKRAFT_HTTP_HOST"] == "0.0.0.0"
    listener = next(x for x in one("Kafka", KAFKA).spec["kafka"]["listeners"] if x["type"] == "internal")
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == f"{KAFKA}-kafka-bootstrap:{listener['port']}"


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_identity_settings_come_from_a_required_secret(d: Manifest) -> None:
    for name in ("LIVSKRAFT_JWT_JWKS_URL", "LIVSKRAFT_JWT_ISSUER", "LIVSKRAFT_JWT_AUDIENCE"):
        ref = env_var(d, name)["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "livskraft-identity" and not ref.get("optional", False)


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_replicas_are_two_or_owned_by_keda(d: Manifest) -> None:
    scalers = [s for s in of_kind("ScaledObject") if s.spec["scaleTargetRef"]["name"] == d.name]
    if scalers:
        assert "replicas" not in d.spec, f"{d}: KEDA owns the replica count"
        assert scalers[0].spec["minReplicaCount"] >= 2
    else:
        assert d.spec["replicas"] == 2


# --- 3b. Each service: account, service, budget, network, database, Kafka user -------------------


def pod_labels(service: str) -> dict[str, str]:
    return dict(one("Deployment", service).spec["template"]["metadata"]["labels"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_account_service_and_budget(service: str) -> None:
    deployment = one("Deployment", service)
    assert matches(deployment.spec["selector"]["matchLabels"], pod_labels(service))
    account = one("ServiceAccount", pod_spec(deployment)["serviceAccountName"])
    assert account.name == service and account.doc["automountServiceAccountToken"] is False
    svc = one("Service", service)
    assert matches(svc.spec["selector"], pod_labels(service))
    assert [(p["port"], p["targetPort"]) for p in svc.spec["ports"]] == [(80, "http")]
    budget = one("PodDisruptionBudget", service)
    assert budget.spec["minAvailable"] == 1
    assert matches(budget.spec["selector"]["matchLabels"], pod_labels(service))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_database(service: str) -> None:
    ref = env_var(one("Deployment", service), "DATABASE_URL")["valueFrom"]["secretKeyRef"]
    cluster = one("Cluster", ref["name"].removesuffix("-app"))
    assert ref == {"name": f"{cluster.name}-app", "key": "uri"}, "the CloudNativePG app secret"
    assert cluster.name == f"{service}-db"
    initdb = cluster.spec["bootstrap"]["initdb"]
    assert initdb == {"database": f"livskraft_{service}", "owner": f"livskraft_{service}"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_mounts_its_own_kafka_certificate(service: str) -> None:
    volumes = {v["name"]: v for v in pod_spec(one("Deployment", service))["volumes"]}
    assert volumes["kafka-user"]["secret"]["secretName"] == service_user(service).name
    assert volumes["kafka-ca"]["secret"]["secretName"] == f"{KAFKA}-cluster-ca-cert"
    config = one("ConfigMap", "livskraft-config").doc["data"]
    mounts = {v["name"]: v["mountPath"] for v in container(one("Deployment", service))["volumeMounts"]}
    assert config["LIVSKRAFT_KAFKA_SSL_CERTFILE"] == f"{mounts['kafka-user']}/user.crt"
    assert config["LIVSKRAFT_KAFKA_SSL_KEYFILE"] == f"{mounts['kafka-user']}/user.key"
    assert config["LIVSKRAFT_KAFKA_SSL_CAFILE"] == f"{mounts['kafka-ca']}/ca.crt"


PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}


@pytest.mark.parametrize("service", SERVICES)
def test_network_policy_lets_in_http_and_out_only_what_the_service_needs(service: str) -> None:
    policy = one("NetworkPolicy", service)
    assert matches(policy.spec["podSelector"]["matchLabels"], pod_labels(service))
    assert set(policy.spec["policyTypes"]) == {"Ingress", "Egress"}
    assert [p["port"] for rule in policy.spec["ingress"] for p in rule["ports"]] == [HTTP_PORT]
    egress = {p["port"]: rule["to"] for rule in policy.spec["egress"] for p in rule["ports"]}
    expected = {5432, 9093, 53, 443} | ({587} if service == "notify" else set())
    assert set(egress) == expected, f"{policy}: egress ports {sorted(egress)}"
    assert egress[5432][0]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": f"{service}-db"}
    assert egress[9093][0]["podSelector"]["matchLabels"]["strimzi.io/cluster"] == KAFKA
    assert PRIVATE_RANGES <= set(egress[443][0]["ipBlock"]["except"]), (
        f"{policy}: HTTPS out must not reach private addresses"
    )


# --- 3c. Kafka: topics and who may use them ------------------------------------------------------

TOPICS = {m.spec.get("topicName", m.name): m for m in of_kind("KafkaTopic")}
EVENT_TOPICS = [t for t in all_topics() if t != DEAD_LETTER_TOPIC]


def test_every_event_type_has_a_kafka_topic() -> None:
    missing = sorted(set(all_topics()) - TOPICS.keys())
    assert not missing, f"add a KafkaTopic to deploy/k8s/kafka-topics.yaml for: {missing}"


def test_every_kafka_topic_belongs_to_an_event_type() -> None:
    stale = sorted(TOPICS.keys() - set(all_topics()))
    assert not stale, f"KafkaTopics with no event type: {stale}"


@pytest.mark.parametrize("topic", all_topics())
def test_topics_are_replicated_and_partitioned(topic: str) -> None:
    spec = TOPICS[topic].spec
    assert (spec["partitions"], spec["replicas"]) == (6, 3)
    assert spec["config"]["min.insync.replicas"] == 2


def test_event_topics_are_kept_for_replay_and_dead_letters_for_a_while() -> None:
    for topic in EVENT_TOPICS:
        assert TOPICS[topic].spec["config"]["retention.ms"] == -1, topic
    dead = TOPICS[DEAD_LETTER_TOPIC].spec["config"]["retention.ms"]
    assert dead >= 30 * 86_400_000, "an operator needs weeks to look at dead letters"


def test_each_event_topic_is_written_by_its_service_only() -> None:
    for topic in EVENT_TOPICS:
        owner = topic.split(".")[1]
        writers = {s for s in SERVICES if Acls.of(service_user(s)).allows("Write", "topic", topic)}
        assert writers == {owner}, f"{topic}: written by {sorted(writers)}"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_publish_idempotently(service: str) -> None:
    acls = Acls.of(service_user(service))
    assert acls.allows("IdempotentWrite", "cluster")
    assert acls.allows("Describe", "topic", f"livskraft.{service}.any-event.v1")


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_may_read_what_it_consumes(service: str) -> None:
    acls, consumed = Acls.of(service_user(service)), consumed_topics(service)
    unreadable = sorted(t for t in consumed if not acls.allows("Read", "topic", t))
    assert not unreadable, f"{service} consumes but may not read {unreadable}"
    if consumed:
        assert acls.allows("Read", "group", Settings(service=service).consumer_group)
        assert acls.allows("Write", "topic", DEAD_LETTER_TOPIC), "it dead-letters what it cannot apply"


def test_reporting_reads_every_event() -> None:
    assert Acls.of(service_user("reporting")).topics("Read", EVENT_TOPICS) == set(EVENT_TOPICS)


def test_no_service_reads_the_dead_letters() -> None:
    for service in SERVICES:
        assert not Acls.of(service_user(service)).allows("Read", "topic", DEAD_LETTER_TOPIC)


SUBSCRIBERS = [m for m in of_kind("KafkaUser") if m.name.startswith("subscriber-")]


def test_there_is_an_example_subscriber() -> None:
    assert SUBSCRIBERS, "docs/domain.md scenario step 5: an outside subscriber's KafkaUser"


@pytest.mark.parametrize("user", SUBSCRIBERS, ids=_id)
def test_the_subscriber_sees_decisions_and_gatherings_held_and_nothing_else(user: Manifest) -> None:
    acls = Acls.of(user)
    granted = {DecisionRecorded.topic(), GatheringHeld.topic()}
    assert acls.topics("Read", all_topics()) == granted
    assert acls.topics("Describe", all_topics()) == granted, "not even that other topics exist"
    assert acls.topics("Write", all_topics()) == set()
    assert not list(acls.rules_on("cluster")) and not list(acls.rules_on("transactionalId"))
    assert acls.allows("Read", "group", f"{user.name}.reader")
    assert not acls.allows("Read", "group", Settings(service="reporting").consumer_group)
    assert user.spec["quotas"]["consumerByteRate"] > 0, "an outside reader is throttled"


def test_keda_may_only_look() -> None:
    for auth in of_kind("TriggerAuthentication"):
        users = {r["name"] for r in auth.spec["secretTargetRef"]} - {f"{KAFKA}-cluster-ca-cert"}
        for user in users:
            operations = {op for rule in Acls.of(one("KafkaUser", user)).rules for op in rule["operations"]}
            assert operations == {"Describe"}, f"{user}: {operations}"


def test_keda_scales_reporting_on_its_own_consumer_group() -> None:
    scaler = one("ScaledObject", "reporting")
    metadata = scaler.spec["triggers"][0]["metadata"]
    assert metadata["consumerGroup"] == Settings(service="reporting").consumer_group
    assert metadata["bootstrapServers"].startswith(f"{KAFKA}-kafka-bootstrap.")
    assert metadata["bootstrapServers"].endswith(":9093") and metadata["tls"] == "enable"
    assert metadata["offsetResetPolicy"] == "earliest", "as the consumer's auto_offset_reset"


# --- 3d. Monitoring ------------------------------------------------------------------------------


def exposed_metric_names() -> set[str]:
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    names = set()
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        for family in collector.describe():
            names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def test_every_pod_is_scraped() -> None:
    (monitor,) = of_kind("PodMonitor")
    for d in DEPLOYMENTS:
        assert matches(monitor.spec["selector"]["matchLabels"], pod_labels(d.name))


def test_alerts_use_metrics_the_services_expose() -> None:
    (rules,) = of_kind("PrometheusRule")
    exprs = [r["expr"] for g in rules.spec["groups"] for r in g["rules"]]
    used = {name for e in exprs for name in re.findall(r"\blivskraft_[a-z_]+", e)}
    assert used <= exposed_metric_names(), sorted(used - exposed_metric_names())
    for watched in (
        "livskraft_outbox_backlog",
        "livskraft_outbox_oldest_age_seconds",
        "livskraft_consumer_lag",
        "livskraft_dead_letters_total",
    ):
        assert watched in used, f"no alert on {watched}"


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_names_a_runbook_section_that_exists() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    anchors = {_github_anchor(h) for h in re.findall(r"^#+ (.+)$", readme, re.MULTILINE)}
    (rules,) = of_kind("PrometheusRule")
    for rule in (r for g in rules.spec["groups"] for r in g["rules"]):
        target = rule["annotations"]["runbook"]
        assert target.startswith("deploy/README.md#") and target.split("#")[1] in anchors, target


# --- 3e. The kustomization ------------------------------------------------------------------------


def test_the_kustomization_lists_every_file_in_the_folder() -> None:
    listed = set(kustomization()["resources"])
    present = {p.name for p in manifest_files()}
    assert listed == present, f"not listed: {sorted(present - listed)}; missing: {sorted(listed - present)}"


def test_the_kustomization_sets_namespace_and_image() -> None:
    k = kustomization()
    (namespace,) = of_kind("Namespace")
    assert k["namespace"] == namespace.name
    assert {i["name"] for i in k["images"]} == {container(d)["image"] for d in DEPLOYMENTS}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_base() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    assert len(docs) == len(manifests())
    assert all(d["metadata"].get("namespace") == "livskraft" for d in docs if d["kind"] != "Namespace")
    images = {
        c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    (image,) = kustomization()["images"]
    assert images == {f"{image['newName']}:{image['newTag']}"}
