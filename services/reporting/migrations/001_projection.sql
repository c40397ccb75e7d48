-- The reporting projection: what the registry's events say, for queries and statistics.
-- Rebuildable: drop these rows and the inbox's, and read the topics from offset zero.
CREATE TABLE networks (
    network_id         uuid PRIMARY KEY,
    name               text NOT NULL,
    themes             text[] NOT NULL,
    county             text,
    region             text,
    period_start       date NOT NULL,
    period_end         date NOT NULL,
    enrolment_deadline date NOT NULL,
    closed_reason      text,
    created_at         timestamptz NOT NULL
);

CREATE TABLE members (
    network_id     uuid NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    status         text NOT NULL,
    enrolled_at    timestamptz NOT NULL,           -- when the first event about it was made
    PRIMARY KEY (network_id, kommunenummer)
);

CREATE TABLE decisions (
    decision_id    uuid PRIMARY KEY,
    network_id     uuid NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    body           text NOT NULL,
    case_number    text NOT NULL,
    decision_date  date NOT NULL,
    final          boolean NOT NULL,
    event_id       text NOT NULL
);
CREATE INDEX decisions_network ON decisions (network_id);
