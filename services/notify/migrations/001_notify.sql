-- notify: webhook subscriptions and their deliveries, e-mails, reminders, and what notify knows of
-- networks and enrolments from the registry's events. No person's address is stored here: contact
-- addresses are looked up in the registry when an e-mail is sent (docs/notify.md).

-- Another agency's endpoint and the event types it gets. `owner` is the subscriber token's subject.
-- state: pending (validation request not yet answered 2xx), active, disabled, deleted.
CREATE TABLE subscriptions (
    id                  uuid PRIMARY KEY,
    owner               text NOT NULL,
    url                 text NOT NULL,
    event_types         text[] NOT NULL,
    description         text,
    state               text NOT NULL DEFAULT 'pending',
    state_reason        text,
    validation_attempts integer NOT NULL DEFAULT 0,
    validation_started  timestamptz,
    next_validation_at  timestamptz DEFAULT now(),
    validated_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_owner ON subscriptions (owner, created_at);
CREATE INDEX subscriptions_validation ON subscriptions (next_validation_at) WHERE state = 'pending';

-- Signing secrets: the current one (expires_at null) and, after a rotation, the previous one
-- until it expires. Every secret valid at an attempt signs it.
CREATE TABLE signing_secrets (
    subscription_id uuid NOT NULL REFERENCES subscriptions (id),
    secret          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz
);
CREATE INDEX signing_secrets_subscription ON signing_secrets (subscription_id);

-- One row per event some subscription wanted: the CloudEvent in structured JSON mode, the exact
-- bytes every subscriber gets and the signature covers.
CREATE TABLE messages (
    event_id      text PRIMARY KEY,
    event_type    text NOT NULL,
    aggregate_key text NOT NULL,
    chain         text NOT NULL,
    sequence      bigint NOT NULL,
    body          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- How far notify has seen each aggregate's events without a gap. `chain` is the producing
-- service's source and the aggregate's key: each service numbers its aggregates' events 1, 2, ...
-- across all their types, which travel on different topics and may reach notify out of order.
-- A delivery of event n waits until n-1 has been seen (or until webhook_order_wait_s has passed).
CREATE TABLE chains (
    chain      text PRIMARY KEY,
    contiguous bigint NOT NULL
);
CREATE TABLE chain_seen (
    chain    text NOT NULL,
    sequence bigint NOT NULL,
    PRIMARY KEY (chain, sequence)
);

-- One event to one subscription: its id is the webhook-id on every attempt, and the
-- notification_id of its NotificationDelivered / NotificationFailed. state: pending, delivered,
-- failed, cancelled (its subscription was deleted). Retries are kept here, so they survive a
-- restart; `window_start` is the first attempt (or the redelivery), the retry window counts from it.
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    position         bigserial,
    subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    aggregate_key    text NOT NULL,
    chain            text NOT NULL,
    sequence         bigint NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    window_start     timestamptz,
    last_status      integer,
    last_reason      text,
    delivered_at     timestamptz,
    finished_at      timestamptz,
    event_sequence   bigint NOT NULL DEFAULT 0,  -- notify's events about this delivery so far
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
-- The head of each (subscription, aggregate) chain: later events wait for it.
CREATE INDEX deliveries_chain ON deliveries (subscription_id, chain, sequence, position)
    WHERE state = 'pending';
CREATE INDEX deliveries_log ON deliveries (subscription_id, position DESC);

-- The delivery log: every attempt, its status and how long it took. No response body is kept.
CREATE TABLE delivery_attempts (
    delivery_id  uuid NOT NULL,
    attempt      integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    verdict      text NOT NULL,
    reason       text,
    duration_ms  integer NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- A municipality's official mailbox (postmottak): an organisation's public address, not a
-- person's, set by programme staff. Invitations go there; other mail when nobody is named.
CREATE TABLE mailboxes (
    kommunenummer text PRIMARY KEY,
    address       text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL
);

-- E-mails to send and sent: what to say (template values, no personal data) and to whom by role;
-- the addresses are looked up when it is sent and never stored. state: pending, sent, failed.
CREATE TABLE emails (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL,
    network_id       uuid,
    kommunenummer    text NOT NULL,
    audience         text NOT NULL,
    data             jsonb NOT NULL,
    event_id         text NOT NULL,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    window_start     timestamptz,
    last_status      integer,
    last_reason      text,
    recipients       integer,
    sent_at          timestamptz,
    event_sequence   bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, kind, kommunenummer)
);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE state = 'pending';
CREATE INDEX emails_network ON emails (network_id, created_at);

-- Each reminder once: the row is claimed in the transaction that queues its e-mail, so two
-- replicas, or one restarted, never send it twice.
CREATE TABLE reminders (
    network_id    uuid NOT NULL,
    kommunenummer text NOT NULL,
    days          integer NOT NULL,
    email_id      uuid NOT NULL,
    due_on        date NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (network_id, kommunenummer, days)
);

-- What notify knows from the registry's events (they arrive on several topics in no set order:
-- `sequence`, the network's event count, settles which is newer).
CREATE TABLE networks (
    network_id         uuid PRIMARY KEY,
    name               text,
    enrolment_deadline date,
    closed             boolean NOT NULL DEFAULT false
);

CREATE TABLE members (
    network_id         uuid NOT NULL,
    kommunenummer      text NOT NULL,
    valid_on           date NOT NULL,
    status             text NOT NULL,
    status_sequence    bigint NOT NULL,
    submitted_sequence bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (network_id, kommunenummer)
);

-- Decisions and named main contacts, by the sequence of the event that recorded them: only those
-- after the latest submission count (a municipality that enrols again decides again).
CREATE TABLE decisions (
    network_id    uuid NOT NULL,
    kommunenummer text NOT NULL,
    sequence      bigint NOT NULL,
    final         boolean NOT NULL,
    PRIMARY KEY (network_id, kommunenummer, sequence)
);

CREATE TABLE main_contacts (
    network_id    uuid NOT NULL,
    kommunenummer text NOT NULL,
    sequence      bigint NOT NULL,
    PRIMARY KEY (network_id, kommunenummer, sequence)
);

-- Municipality names through time (from MunicipalityRegistered / MunicipalityChanged), for the
-- e-mails' text.
CREATE TABLE municipality_names (
    kommunenummer text NOT NULL,
    valid_from    date NOT NULL,
    valid_to      date,
    name          text NOT NULL,
    PRIMARY KEY (kommunenummer, valid_from)
);
