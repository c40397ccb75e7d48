"""Monitoring: the PodMonitor scrapes every service, each alert is on a metric the services export
and names a runbook section that exists, and the Grafana dashboard is a well-formed dashboard whose
every panel queries metrics the services export.

"Exported" is what prometheus_client's default registry holds once every service's app module is
imported: services/runtime/metrics.py and any metrics module a service has of its own.
"""

from __future__ import annotations

import importlib
import json
import re
from functools import cache

import pytest
from livskraft_contracts import NotificationDelivered, NotificationFailed
from prometheus_client import REGISTRY

from services.catalog import PORTS
from tests.deploy.manifests import K8S, ROOT, matches, of_kind, one

DASHBOARD = K8S / "base" / "dashboards" / "livskraft.json"
README = ROOT / "deploy" / "README.md"
EXTERNAL = {"up", "kube_pod_container_status_ready"}
"""Metrics of Prometheus itself and of kube-state-metrics that alerts may use."""
PENDING: dict[str, str] = {}
"""Metrics an alert already names but no service exports yet. The alert cannot fire until one does;
`test_pending_metrics_are_still_pending` fails once it is exported, to take it off this list."""
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}


@cache
def exported() -> frozenset[str]:
    for service in PORTS:
        importlib.import_module(f"services.{service}.app")
    return frozenset(REGISTRY._names_to_collectors)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", text):
        name, call = match.groups()
        if not call and name not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]?|e\d+", name):
            names.add(name)
    return names


def test_the_promql_reader_finds_metrics_only() -> None:
    expr = (
        'sum by (service) (rate(livskraft_http_requests_total{status=~"5.."}[5m])) > 0 and '
        "deriv(max by (service, topic) (livskraft_consumer_lag)[15m:1m]) > 0 unless on (service) up == 0"
    )
    assert metric_names(expr) == {"livskraft_http_requests_total", "livskraft_consumer_lag", "up"}


# --- Scraping ------------------------------------------------------------------------------------


def test_every_pod_is_scraped_on_its_metrics_endpoint() -> None:
    (monitor,) = of_kind("PodMonitor")
    for d in of_kind("Deployment"):
        assert matches(monitor.spec["selector"]["matchLabels"], d.spec["template"]["metadata"]["labels"])
    for endpoint in monitor.spec["podMetricsEndpoints"]:
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"


# --- Alerts --------------------------------------------------------------------------------------


def rules() -> list[dict]:
    (rule,) = of_kind("PrometheusRule")
    return [r for group in rule.spec["groups"] for r in group["rules"]]


def test_alerts_use_metrics_the_services_export() -> None:
    used = {name for r in rules() for name in metric_names(r["expr"])}
    ours = {n for n in used if n not in EXTERNAL}
    unknown = ours - exported() - PENDING.keys()
    assert not unknown, f"alerts on metrics no service exports: {sorted(unknown)}"


def test_pending_metrics_are_still_pending() -> None:
    done = PENDING.keys() & exported()
    assert not done, f"exported now, take them off PENDING: {sorted(done)}"


def test_the_alerts_that_matter_at_night_are_there() -> None:
    watched = {
        name: [r["alert"] for r in rules() if name in metric_names(r["expr"])]
        for name in (
            "livskraft_outbox_oldest_age_seconds",
            "livskraft_consumer_lag",
            "livskraft_dead_letters_total",
            "livskraft_events_published_total",  # NotificationFailed: webhook and e-mail failures
            "kube_pod_container_status_ready",
            "livskraft_notify_reminders_overdue",
        )
    }
    assert all(watched.values()), f"no alert on {[m for m, alerts in watched.items() if not alerts]}"
    oldest = [r for r in rules() if "livskraft_outbox_oldest_age_seconds" in metric_names(r["expr"])]
    assert any(r["expr"].endswith("> 60") for r in oldest), "the outbox's oldest row older than a minute"
    assert any("deriv(" in r["expr"] for r in rules() if "livskraft_consumer_lag" in r["expr"]), "lag growing"


def test_alerts_name_topics_that_exist() -> None:
    for r in rules():
        for topic in re.findall(r'topic="([^"]+)"', r["expr"]):
            assert topic in {NotificationFailed.topic(), NotificationDelivered.topic()}, topic
    assert one("KafkaTopic", NotificationFailed.topic())


def _anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alert_has_a_severity_and_a_runbook_section_that_exists() -> None:
    anchors = {_anchor(h) for h in re.findall(r"^#+ (.+)$", README.read_text(), re.MULTILINE)}
    for r in rules():
        assert r["labels"]["severity"] in {"warning", "critical"}, r["alert"]
        target = r["annotations"]["runbook_url"]
        assert target.startswith("deploy/README.md#") and target.split("#")[1] in anchors, target
        assert r["annotations"]["summary"], r["alert"]


# --- The dashboard -------------------------------------------------------------------------------


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_the_dashboard_is_a_dashboard() -> None:
    d = dashboard()
    assert {"uid", "title", "schemaVersion", "panels", "templating", "time"} <= d.keys()
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", d["uid"]) and d["schemaVersion"] >= 36
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert (
        metric_names(variables["service"]["definition"].removeprefix("label_values(").split(",")[0])
        <= exported()
    )
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    taken: set[tuple[int, int]] = set()
    for p in d["panels"]:
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, p["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells
    for p in panels():
        assert p["type"] in {"timeseries", "stat", "gauge", "table", "bargauge"} and p["title"]
        assert p["datasource"]["uid"] == "${datasource}"
        assert p["targets"], p["title"]
        for target in p["targets"]:
            assert target["refId"] and target["expr"] and target["datasource"]["uid"] == "${datasource}"


@pytest.mark.parametrize("panel", panels(), ids=lambda p: p["title"])
def test_every_panel_queries_metrics_the_services_export(panel: dict) -> None:
    for target in panel["targets"]:
        names = metric_names(target["expr"])
        assert names, target["expr"]
        assert names <= exported(), f"{panel['title']}: no service exports {sorted(names - exported())}"
        assert target["expr"].count("(") == target["expr"].count(")")


def test_the_dashboard_covers_every_part() -> None:
    used = {n for p in panels() for t in p["targets"] for n in metric_names(t["expr"])}
    ours = {n.removesuffix("_bucket") for n in exported() if n.startswith("livskraft_")}
    families = {re.sub(r"_(total|created|sum|count|bucket)$", "", n) for n in ours}
    shown = {re.sub(r"_(total|created|sum|count|bucket)$", "", n) for n in used}
    missing = sorted(f for f in families if f.startswith("livskraft_") and f not in shown)
    assert not missing, f"metrics not on the dashboard: {missing}"


def test_the_dashboard_is_shipped_to_grafana_as_a_config_map() -> None:
    config_map = one("ConfigMap", "livskraft-dashboard")
    assert config_map.doc["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map.doc["data"]["livskraft.json"]) == dashboard()
