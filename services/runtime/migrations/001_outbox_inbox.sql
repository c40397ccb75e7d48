-- The transactional outbox (Debezium's shape): a command writes its events here in the same
-- transaction as its state change; the relay publishes them to Kafka and marks them published.
CREATE TABLE outbox (
    position       bigserial PRIMARY KEY,          -- insertion order; per-key order follows it
    id             uuid NOT NULL UNIQUE,           -- the CloudEvents id, consumers' dedup key
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,                  -- the Kafka key
    type           text NOT NULL,                  -- the CloudEvents type
    topic          text NOT NULL,
    headers        text[] NOT NULL,                -- name, value, name, value, ... as sent
    payload        bytea NOT NULL,                 -- the record value, as sent
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    attempts       integer NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;
CREATE INDEX outbox_unpublished_key ON outbox (aggregate_id, position) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The inbox: a consumer records each event id it applied, in the transaction of the effect,
-- so that a second delivery of the same event changes nothing.
CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Every refusal to read a record, also sent to the dead-letter topic; kept for operators.
CREATE TABLE dead_letters (
    consumer    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         text,                              -- the record key: the aggregate id
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition, "offset")
);
