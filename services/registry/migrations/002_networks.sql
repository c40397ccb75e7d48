-- Networks, enrolments and political decisions. `sequence` counts a network's events: every
-- event keyed by the network carries the next number, so subscribers can see order and gaps.
CREATE TABLE networks (
    id                 uuid PRIMARY KEY,
    name               text NOT NULL,
    themes             text[] NOT NULL CHECK (cardinality(themes) >= 2),
    county             text,
    region             text,
    period_start       date NOT NULL,
    period_end         date NOT NULL,
    enrolment_deadline date NOT NULL,
    target_size_min    integer NOT NULL,
    target_size_max    integer NOT NULL,
    published          boolean NOT NULL DEFAULT false,  -- a draft until NetworkCreated went out
    closed_reason      text,                            -- set by NetworkClosed
    sequence           bigint NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrolments (
    network_id     uuid NOT NULL REFERENCES networks (id),
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    status         text NOT NULL,
    late_override  boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (network_id, kommunenummer)
);

CREATE TABLE decisions (
    id               uuid PRIMARY KEY,
    network_id       uuid NOT NULL,
    kommunenummer    text NOT NULL,
    body             text NOT NULL,
    meeting_date     date NOT NULL,
    case_number      text NOT NULL,
    decision_date    date NOT NULL,
    final            boolean NOT NULL,
    summary          text NOT NULL,
    external_system  text,
    external_key     text,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (network_id, kommunenummer) REFERENCES enrolments (network_id, kommunenummer)
);

-- Personal data: the people a municipality names for its network work. Kept here only; events
-- carry `person_id` and the role. Read by the municipality itself and programme staff.
CREATE TABLE contacts (
    person_id      uuid PRIMARY KEY,
    network_id     uuid NOT NULL,
    kommunenummer  text NOT NULL,
    role           text NOT NULL,
    name           text NOT NULL,
    email          text NOT NULL,
    phone          text,
    assigned_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (network_id, kommunenummer) REFERENCES enrolments (network_id, kommunenummer)
);

-- Who did what, when: one row per event a command produced.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    actor_role     text NOT NULL,
    action         text NOT NULL,
    network_id     uuid,
    kommunenummer  text,
    event_id       uuid                 -- null for what publishes no event (a draft)
);
CREATE INDEX audit_log_network ON audit_log (network_id, id);
