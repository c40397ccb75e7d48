"""Prometheus metrics, one set for every service (the `service` label tells them apart).

Labels carry event types, topics and routes only: never a person, a name or an address.
"""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "livskraft_events_published_total", "Events the outbox relay published", ["service", "topic"]
)
EVENTS_CONSUMED = Counter(
    "livskraft_events_consumed_total",
    "Events a consumer applied (duplicates are counted under outcome=duplicate)",
    ["service", "type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "livskraft_handler_seconds",
    "Time to apply one batch of events",
    ["service"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERS = Counter(
    "livskraft_dead_letters_total", "Records sent to the dead-letter topic", ["service", "topic"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "livskraft_outbox_publish_failures_total", "Relay batches that Kafka did not acknowledge", ["service"]
)
OUTBOX_BACKLOG = Gauge("livskraft_outbox_backlog", "Unpublished outbox rows", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "livskraft_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
CONSUMER_LAG = Gauge(
    "livskraft_consumer_lag",
    "Records behind the log end, per partition",
    ["service", "topic", "partition"],
)
HTTP_REQUESTS = Counter(
    "livskraft_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "livskraft_http_request_seconds", "HTTP request duration", ["service", "method", "route"]
)
HTTP_TRANSIENT_FAULTS = Counter(
    "livskraft_http_transient_faults_total",
    "Requests answered 503 for a fault of the moment (database, Kafka or another service out of reach)",
    ["service", "route"],
)
HTTP_UNEXPECTED_ERRORS = Counter(
    "livskraft_http_unexpected_errors_total",
    "Requests answered 500: a bug, logged once",
    ["service", "route"],
)
