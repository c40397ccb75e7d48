"""deploy/k8s, built as kustomize builds it (base, and the overlays dev and prod): valid
Kubernetes, safe pods, and in step with the code.

1. Every document of every build validates offline, strictly (an unknown or misspelt field fails):
   built-in kinds against the schemas kubernetes-validate bundles, for the oldest Kubernetes we
   support (1.30: the preStop `sleep` action) and the newest it knows; custom resources (Strimzi,
   CloudNativePG, KEDA, Prometheus Operator) against their CRD schemas in deploy/crd-schemas/. A kind
   with neither fails.
2. The pods: no Deployment without probes, requests and limits, a non-root user, a read-only root
   file system and its own ServiceAccount; no service without its Service, NetworkPolicy, database
   and backups; prod with disruption budgets and anti-affinity.
3. Kafka: a topic per declared event type (and nothing else), replicated 3 with min.insync 2; each
   KafkaUser's ACLs exactly what its service's `SPEC` declares, worked out here on their own (not
   with the generator's code); subscribers and KEDA read only what they are granted.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version
from livskraft_contracts import DEAD_LETTER_TOPIC, EVENT_TYPES

from services.catalog import PORTS
from services.devtools.deploy import read_subscribers
from services.runtime.settings import Settings
from tests.deploy import crds
from tests.deploy.manifests import BUILDS, OVERLAYS, Acls, Manifest, build, matches, of_kind, one

SERVICES = list(PORTS)
K8S_VERSIONS = ["1.30.0", latest_version()]
HTTP_PORT = 8080
KAFKA = "livskraft"


def _id(m: Manifest) -> str:
    return str(m)


@cache
def spec(service: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"services.{service}.app").SPEC


def produced(service: str) -> set[str]:
    return {e.topic() for e in spec(service).produces}


def consumed(service: str) -> set[str]:
    return {e.topic() for e in spec(service).consumes.event_types}


def declared_topics() -> set[str]:
    return {t for s in SERVICES for t in produced(s) | consumed(s)}


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


def pod_labels(service: str, in_build: str = "prod") -> dict[str, str]:
    return dict(one("Deployment", service, in_build).spec["template"]["metadata"]["labels"])


# --- 1. Schemas ----------------------------------------------------------------------------------


def _unique(docs: list[Manifest]) -> list[Manifest]:
    """One of each distinct document across the builds (most are the same in all three)."""
    seen: dict[str, Manifest] = {}
    for m in docs:
        seen.setdefault(json.dumps(m.doc, sort_keys=True), m)
    return list(seen.values())


ALL = _unique([m for b in BUILDS for m in build(b)])
CUSTOM = [m for m in ALL if crds.known(m.doc["apiVersion"], m.kind)]
BUILT_IN = [m for m in ALL if m not in CUSTOM]


def test_every_build_has_documents_with_unique_valid_names() -> None:
    for b in BUILDS:
        found = [(m.kind, m.name) for m in build(b)]
        assert found, f"{b}: nothing built"
        assert len(found) == len(set(found)), f"{b}: {sorted(k for k in found if found.count(k) > 1)}"
        for m in build(b):
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", m.name), f"{m}: bad name"
            if m.kind != "Namespace":
                assert m.doc["metadata"]["namespace"] == "livskraft", f"{m}: not in the namespace"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("m", BUILT_IN, ids=_id)
def test_built_in_kinds_match_the_kubernetes_schema(m: Manifest, version: str) -> None:
    problem = None
    try:
        kubernetes_validate.validate(m.doc, version, strict=True)
    except SchemaNotFoundError as error:
        problem = f"{error.message}: neither a built-in kind nor a CRD in deploy/crd-schemas"
    except kubernetes_validate.ValidationError as error:  # its text holds the whole schema
        problem = f"{'.'.join(str(p) for p in error.path)}: {error.message}"
    if problem:
        pytest.fail(f"{m}: {problem}", pytrace=False)


@pytest.mark.parametrize("m", CUSTOM, ids=_id)
def test_custom_resources_match_their_crd_schema(m: Manifest) -> None:
    problems = crds.errors(m.doc)
    if problems:
        pytest.fail(f"{m}: " + "; ".join(problems[:5]), pytrace=False)


def test_the_schema_checks_are_strict() -> None:
    """The validators themselves: a misspelt field fails, in a built-in kind and in a custom one."""
    deployment = yaml.safe_load(yaml.safe_dump(of_kind("Deployment")[0].doc))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 40
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    with pytest.raises(SchemaNotFoundError):
        kubernetes_validate.validate(one("Kafka", KAFKA).doc, K8S_VERSIONS[0], strict=True)
    for kind, name, path, field in (
        ("Kafka", KAFKA, ["spec", "kafka"], "listener"),
        ("Cluster", "registry-db", ["spec", "storage"], "sise"),
        ("ScaledObject", "reporting", ["spec"], "minReplicas"),
        ("KafkaUser", "livskraft-registry", ["spec", "authorization"], "acl"),
        ("PrometheusRule", "livskraft", ["spec"], "group"),
    ):
        doc = yaml.safe_load(yaml.safe_dump(one(kind, name).doc))
        where = doc
        for key in path:
            where = where[key]
        where[field] = "x"
        assert crds.errors(doc), f"{kind}: a misspelt {field} passed"
    assert crds.errors({"apiVersion": "keda.sh/v1alpha2", "kind": "ScaledObject", "metadata": {}})


# --- 2. The pods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("b", BUILDS)
def test_every_service_has_its_workload(b: str) -> None:
    for kind in ("Deployment", "Service", "ServiceAccount", "NetworkPolicy"):
        assert sorted(m.name for m in of_kind(kind, b)) == sorted(SERVICES), f"{b}: {kind}"


DEPLOYMENTS = [m for b in BUILDS for m in of_kind("Deployment", b)]


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
    assert {p["name"]: p["containerPort"] for p in box["ports"]} == {"http": HTTP_PORT}
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = box[probe]["httpGet"]
        assert get["port"] in ("http", HTTP_PORT), f"{d}: {probe} port"
        paths[probe] = get["path"]
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_pods_have_requests_and_limits_and_shut_down_within_their_grace(d: Manifest) -> None:
    resources = container(d)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys(), f"{d}: requests"
    assert {"cpu", "memory"} <= resources["limits"].keys(), f"{d}: limits"
    pause = container(d)["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = pod_spec(d)["terminationGracePeriodSeconds"]
    # services/runtime/app.py: HTTP drain 15 s + consumer 5 s + relay batch 10 s, and closing.
    assert pause == 5 and grace >= pause + 15 + 5 + 10 + 3, f"{d}: preStop {pause} s, grace {grace} s"


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_each_pod_runs_its_service_from_the_one_image_with_its_own_account(d: Manifest) -> None:
    box = container(d)
    assert box["image"] == "registry.example.org/ks/livskraft:0.1.0", "the kustomization's `images:`"
    assert box["args"] == [d.name]
    assert env_var(d, "LIVSKRAFT_SERVICE")["value"] == d.name
    account = one("ServiceAccount", pod_spec(d)["serviceAccountName"], d.build)
    assert account.name == d.name and account.doc["automountServiceAccountToken"] is False
    config = one("ConfigMap", box["envFrom"][0]["configMapRef"]["name"], d.build).doc["data"]
    assert config["LIVSKRAFT_HTTP_PORT"] == str(HTTP_PORT) and config["LIVSKRAFT_HTTP_HOST"] == "0.0.0.0"
    listener = next(
        x for x in one("Kafka", KAFKA, d.build).spec["kafka"]["listeners"] if x["type"] == "internal"
    )
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == f"{KAFKA}-kafka-bootstrap:{listener['port']}"


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_identity_and_database_come_from_required_secrets(d: Manifest) -> None:
    for name in ("LIVSKRAFT_JWT_JWKS_URL", "LIVSKRAFT_JWT_ISSUER", "LIVSKRAFT_JWT_AUDIENCE"):
        ref = env_var(d, name)["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "livskraft-identity" and not ref.get("optional", False)
    ref = env_var(d, "DATABASE_URL")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{d.name}-db-app", "key": "uri"}, "the CloudNativePG app Secret"


@pytest.mark.parametrize("d", DEPLOYMENTS, ids=_id)
def test_each_pod_mounts_its_own_kafka_certificate(d: Manifest) -> None:
    volumes = {v["name"]: v for v in pod_spec(d)["volumes"]}
    assert volumes["kafka-user"]["secret"]["secretName"] == f"livskraft-{d.name}"
    assert volumes["kafka-ca"]["secret"]["secretName"] == f"{KAFKA}-cluster-ca-cert"
    config = one("ConfigMap", "livskraft-config", d.build).doc["data"]
    mounts = {v["name"]: v["mountPath"] for v in container(d)["volumeMounts"]}
    assert config["LIVSKRAFT_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert config["LIVSKRAFT_KAFKA_SSL_CERTFILE"] == f"{mounts['kafka-user']}/user.crt"
    assert config["LIVSKRAFT_KAFKA_SSL_KEYFILE"] == f"{mounts['kafka-user']}/user.key"
    assert config["LIVSKRAFT_KAFKA_SSL_CAFILE"] == f"{mounts['kafka-ca']}/ca.crt"


def test_nothing_secret_is_in_the_repository() -> None:
    for b in BUILDS:
        assert not of_kind("Secret", b), f"{b}: Secrets are made in the cluster (deploy/README.md)"
        for d in of_kind("Deployment", b):
            for e in container(d).get("env", []):
                if re.search(r"PASSWORD|SECRET|TOKEN$|KEY$|DATABASE_URL|JWKS", e["name"]):
                    assert "value" not in e, f"{d}: {e['name']} is written out; it comes from a Secret"
        for config in of_kind("ConfigMap", b):
            assert not [k for k in config.doc["data"] if re.search(r"PASSWORD|SECRET|TOKEN$", k)]


@pytest.mark.parametrize("b", BUILDS)
def test_replicas_are_fixed_or_owned_by_keda(b: str) -> None:
    want = {"base": 1, "dev": 1, "prod": 2}[b]
    for d in of_kind("Deployment", b):
        scalers = [s for s in of_kind("ScaledObject", b) if s.spec["scaleTargetRef"]["name"] == d.name]
        if consumed(d.name):
            assert len(scalers) == 1, f"{d}: a consumer scales on its lag"
            assert "replicas" not in d.spec, f"{d}: KEDA owns the replica count"
            assert scalers[0].spec["minReplicaCount"] == want
            assert scalers[0].spec["maxReplicaCount"] <= 6, "never more consumers than partitions"
        else:
            assert not scalers and d.spec["replicas"] == want


def test_prod_has_a_disruption_budget_and_anti_affinity_for_every_service_and_dev_none() -> None:
    for service in SERVICES:
        budget = one("PodDisruptionBudget", service)
        assert budget.spec["minAvailable"] == 1
        assert matches(budget.spec["selector"]["matchLabels"], pod_labels(service))
        rule = pod_spec(one("Deployment", service))["affinity"]["podAntiAffinity"]
        terms = rule.get("requiredDuringSchedulingIgnoredDuringExecution") or [
            t["podAffinityTerm"] for t in rule["preferredDuringSchedulingIgnoredDuringExecution"]
        ]
        assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
        assert terms[0]["labelSelector"]["matchLabels"] == pod_labels(service)
        if not consumed(service):  # a fixed pair must not share a node
            assert "requiredDuringSchedulingIgnoredDuringExecution" in rule
    for b in ("base", "dev"):
        assert not of_kind("PodDisruptionBudget", b)
        assert all("affinity" not in pod_spec(d) for d in of_kind("Deployment", b))


def test_prod_asks_for_more_than_dev() -> None:
    def cpu(d: Manifest) -> int:
        value = container(d)["resources"]["requests"]["cpu"]
        return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)

    for service in SERVICES:
        assert cpu(one("Deployment", service, "dev")) < cpu(one("Deployment", service, "prod"))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_service_and_database_with_backups(service: str) -> None:
    svc = one("Service", service)
    assert matches(svc.spec["selector"], pod_labels(service))
    assert [(p["port"], p["targetPort"]) for p in svc.spec["ports"]] == [(80, "http")]
    cluster = one("Cluster", f"{service}-db")
    assert cluster.spec["bootstrap"]["initdb"] == {
        "database": f"livskraft_{service}",
        "owner": f"livskraft_{service}",
    }
    assert cluster.spec["instances"] == 3 and cluster.spec["postgresql"]["synchronous"]["number"] == 1
    assert cluster.spec["backup"]["barmanObjectStore"]["destinationPath"].endswith(f"/{service}-db")
    backup = one("ScheduledBackup", f"{service}-db-nightly")
    assert backup.spec["cluster"]["name"] == cluster.name
    assert one("Cluster", f"{service}-db", "dev").spec["instances"] == 1


PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}


@pytest.mark.parametrize("service", SERVICES)
def test_network_policy_lets_in_http_and_out_only_what_the_service_needs(service: str) -> None:
    policy = one("NetworkPolicy", service)
    assert matches(policy.spec["podSelector"]["matchLabels"], pod_labels(service))
    assert set(policy.spec["policyTypes"]) == {"Ingress", "Egress"}
    assert [p["port"] for rule in policy.spec["ingress"] for p in rule["ports"]] == [HTTP_PORT]
    egress = {p["port"]: rule["to"] for rule in policy.spec["egress"] for p in rule["ports"]}
    expected = {5432, 9093, 53, 443} | ({587, HTTP_PORT} if service == "notify" else set())
    assert set(egress) == expected, f"{policy}: egress ports {sorted(egress)}"
    assert egress[5432] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": f"{service}-db"}}}]
    assert egress[9093][0]["podSelector"]["matchLabels"]["strimzi.io/cluster"] == KAFKA
    assert egress[443][0]["ipBlock"]["cidr"] == "0.0.0.0/0", "the identity provider's JWKS"
    assert PRIVATE_RANGES <= set(egress[443][0]["ipBlock"]["except"]), (
        f"{policy}: HTTPS out must not reach private addresses (SSRF through webhooks)"
    )
    if service == "notify":  # the registry's API for contacts
        assert egress[HTTP_PORT][0]["podSelector"]["matchLabels"] == pod_labels("registry")


# --- 3. Kafka -------------------------------------------------------------------------------------


def test_kafka_runs_kraft_with_three_nodes_replication_three_and_min_insync_two() -> None:
    (pool,) = of_kind("KafkaNodePool")
    assert pool.spec["replicas"] == 3 and set(pool.spec["roles"]) == {"controller", "broker"}
    assert pool.doc["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA
    kafka = one("Kafka", KAFKA).spec["kafka"]
    config = kafka["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    assert config["auto.create.topics.enable"] is False
    assert kafka["authorization"]["type"] == "simple", "ACLs must be enforced"
    for listener in kafka["listeners"]:
        assert listener["tls"] and listener["authentication"]["type"] == "tls"


def topics(in_build: str = "prod") -> dict[str, Manifest]:
    return {m.name: m for m in of_kind("KafkaTopic", in_build)}


def test_a_topic_for_every_declared_event_type_and_the_dead_letters_and_nothing_else() -> None:
    assert set(topics()) == declared_topics() | {DEAD_LETTER_TOPIC}


@pytest.mark.parametrize("b", BUILDS)
def test_topics_are_replicated_kept_and_labelled(b: str) -> None:
    replicas, insync = (1, 1) if b == "dev" else (3, 2)
    for name, topic in topics(b).items():
        assert topic.doc["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA
        assert (topic.spec["partitions"], topic.spec["replicas"]) == (6, replicas), name
        assert topic.spec["config"]["min.insync.replicas"] == insync, name
        retention = topic.spec["config"]["retention.ms"]
        if name == DEAD_LETTER_TOPIC:
            assert retention >= 30 * 86_400_000, "an operator needs weeks to look at dead letters"
        else:
            assert retention == -1, f"{name}: the history projections are rebuilt from"


def expected_acls(service: str) -> set[tuple[str, str, str, frozenset[str]]]:
    """What `SPEC` says, as (resource type, name, pattern, operations)."""
    rules = {("topic", t, "literal", frozenset({"Write", "Describe"})) for t in produced(service)}
    if consumed(service):
        rules |= {("topic", t, "literal", frozenset({"Read", "Describe"})) for t in consumed(service)}
        rules.add(("topic", DEAD_LETTER_TOPIC, "literal", frozenset({"Write", "Describe"})))
        rules.add(("group", Settings(service=service).consumer_group, "literal", frozenset({"Read"})))
    return rules


def acl_set(user: Manifest) -> set[tuple[str, str, str, frozenset[str]]]:
    return {
        (
            r["resource"]["type"],
            r["resource"].get("name", ""),
            r["resource"].get("patternType", "literal"),
            frozenset(r["operations"]),
        )
        for r in Acls.of(user).rules
    }


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_user_may_do_exactly_what_its_spec_declares(service: str) -> None:
    user = one("KafkaUser", f"livskraft-{service}")
    assert user.doc["metadata"]["labels"]["strimzi.io/cluster"] == KAFKA
    assert user.spec["authentication"]["type"] == "tls"
    assert acl_set(user) == expected_acls(service)


def test_each_event_topic_is_written_by_its_one_producer() -> None:
    users = {s: Acls.of(one("KafkaUser", f"livskraft-{s}")) for s in SERVICES}
    everyone = [Acls.of(u) for u in of_kind("KafkaUser")]
    for topic in declared_topics():
        writers = {acls.user for acls in everyone if acls.allows("Write", "topic", topic)}
        owners = {f"livskraft-{s}" for s in SERVICES if topic in produced(s)}
        assert writers == owners and len(owners) == 1, f"{topic}: written by {sorted(writers)}"
    for service, acls in users.items():
        assert not acls.allows("Read", "topic", DEAD_LETTER_TOPIC), f"{service}: an operator reads those"


def test_subscribers_read_exactly_their_event_types() -> None:
    declared = {f"subscriber-{s.name}": s for s in read_subscribers()}
    found = {m.name: m for m in of_kind("KafkaUser") if m.name.startswith("subscriber-")}
    assert found.keys() == declared.keys() and found
    every_topic = sorted(topics())
    for name, user in found.items():
        acls = Acls.of(user)
        granted = {EVENT_TYPES[ce_type].topic() for ce_type in declared[name].event_types}
        assert acls.topics("Read", every_topic) == granted
        assert acls.topics("Describe", every_topic) == granted, "not even that other topics exist"
        assert acls.topics("Write", every_topic) == set()
        assert not list(acls.rules_on("cluster")) and not list(acls.rules_on("transactionalId"))
        assert acls.allows("Read", "group", f"{name}.reader")
        assert not any(acls.allows("Read", "group", Settings(service=s).consumer_group) for s in SERVICES)
        assert user.spec["quotas"]["consumerByteRate"] > 0, "an outside reader is throttled"


def test_keda_may_only_look_at_what_it_scales_on() -> None:
    (auth,) = of_kind("TriggerAuthentication")
    users = {r["name"] for r in auth.spec["secretTargetRef"]} - {f"{KAFKA}-cluster-ca-cert"}
    (user,) = users
    acls = acl_set(one("KafkaUser", user))
    assert {ops for _, _, _, ops in acls} == {frozenset({"Describe"})}
    consumers = [s for s in SERVICES if consumed(s)]
    assert {(t, n) for t, n, _, _ in acls} == {("topic", t) for s in consumers for t in consumed(s)} | {
        ("group", Settings(service=s).consumer_group) for s in consumers
    }


@pytest.mark.parametrize("scaler", of_kind("ScaledObject"), ids=_id)
def test_keda_scales_a_consumer_on_its_own_group(scaler: Manifest) -> None:
    one("Deployment", scaler.spec["scaleTargetRef"]["name"])
    (trigger,) = scaler.spec["triggers"]
    metadata = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert metadata["consumerGroup"] == Settings(service=scaler.name).consumer_group
    assert metadata["bootstrapServers"] == f"{KAFKA}-kafka-bootstrap.livskraft.svc:9093"
    assert metadata["tls"] == "enable" and metadata["offsetResetPolicy"] == "earliest"
    one("TriggerAuthentication", trigger["authenticationRef"]["name"])


def test_the_overlays_build_on_the_base() -> None:
    base = {(m.kind, m.name) for m in build("base")}
    for overlay in OVERLAYS:
        assert base <= {(m.kind, m.name) for m in build(overlay)}


def test_no_network_policy_selects_what_is_not_its_service() -> None:
    """A policy's selector matches its own service's pod labels and no other resource's labels (a
    database Cluster's or a Service's labels may be passed on to pods by their operators)."""
    for policy in of_kind("NetworkPolicy"):
        selector = policy.spec["podSelector"]["matchLabels"]
        for m in build("prod"):
            labels = m.doc["metadata"].get("labels") or {}
            if matches(selector, labels):
                assert m.name == policy.name, f"{policy} would also select {m}"
