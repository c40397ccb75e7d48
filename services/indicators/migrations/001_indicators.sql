-- The indicator catalogue: an indicator's current revision, and every revision with who made it.
-- The current revision is also the count of IndicatorDefined events about it (its sequence).
CREATE TABLE indicators (
    id              text PRIMARY KEY,
    revision        integer NOT NULL CHECK (revision >= 1),
    theme           text NOT NULL,
    label           text NOT NULL,
    unit            text NOT NULL,
    decimals        integer NOT NULL CHECK (decimals BETWEEN 0 AND 6),
    direction       text NOT NULL,
    source          text NOT NULL,
    per_inhabitant  boolean NOT NULL,
    minimum         double precision,
    maximum         double precision,
    retired         boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX indicators_theme ON indicators (theme, id);

CREATE TABLE indicator_revisions (
    id          text NOT NULL REFERENCES indicators (id),
    revision    integer NOT NULL,
    entry       jsonb NOT NULL,                    -- the IndicatorDefined data of this revision
    changed_at  timestamptz NOT NULL,
    actor       text NOT NULL,
    actor_role  text NOT NULL,
    PRIMARY KEY (id, revision)
);

-- Municipality codes through time, learnt from the registry's MunicipalityRegistered/Changed:
-- a value for a year is reported under the code in use that year.
CREATE TABLE municipalities (
    kommunenummer  text NOT NULL,
    valid_from     date NOT NULL,
    valid_to       date,                           -- exclusive; null while in use
    name           text NOT NULL,
    county         text NOT NULL,
    sequence       bigint NOT NULL,                -- of the registry event that set it
    PRIMARY KEY (kommunenummer, valid_from)
);

-- Networks and members, learnt from the registry's events (as the gatherings service does):
-- a member's status is that of its latest event by the network's sequence.
CREATE TABLE networks (
    network_id     uuid PRIMARY KEY,
    name           text,
    themes         text[],
    period_start   date,
    period_end     date,
    closed_reason  text
);

CREATE TABLE members (
    network_id     uuid NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    status         text NOT NULL,                  -- invited, submitted, confirmed, withdrawn
    sequence       bigint NOT NULL,
    PRIMARY KEY (network_id, kommunenummer)
);
CREATE INDEX members_kommune ON members (kommunenummer);

-- A municipality's reports are one aggregate (IndicatorReported keys on the kommunenummer):
-- its row is locked by each report, and counts the events written for it.
CREATE TABLE value_streams (
    kommunenummer  text PRIMARY KEY,
    sequence       bigint NOT NULL DEFAULT 0
);

-- Every revision of every reported value; the highest revision is the value of record.
-- Nothing here is ever updated or deleted: a correction is a new row.
CREATE TABLE indicator_values (
    kommunenummer        text NOT NULL REFERENCES value_streams (kommunenummer),
    indicator            text NOT NULL REFERENCES indicators (id),
    year                 integer NOT NULL,
    revision             integer NOT NULL CHECK (revision >= 1),
    valid_on             date NOT NULL,           -- the code's date in the event
    value                double precision NOT NULL,
    status               text NOT NULL CHECK (status IN ('preliminary', 'final')),
    total                double precision,        -- when reported as a total ...
    population           integer,                 -- ... divided by this (SSB 07459, 1 January)
    comment              text,
    supersedes_revision  integer,                 -- named by the reporter (required for a final)
    correction           boolean NOT NULL,        -- corrects a final value
    reported_at          timestamptz NOT NULL,
    reported_by          text NOT NULL,           -- the token's subject, never a name
    reported_role        text NOT NULL,
    event_id             uuid NOT NULL,
    PRIMARY KEY (kommunenummer, indicator, year, revision)
);
CREATE INDEX indicator_values_by_indicator ON indicator_values (indicator, year);

-- Who did what: the token's subject and role, never a name; the reason a final value was
-- corrected.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    actor_role     text NOT NULL,
    action         text NOT NULL,
    kommunenummer  text,
    indicator      text,
    network_id     uuid,
    plan_id        uuid,
    event_id       uuid,
    reason         text
);
CREATE INDEX audit_log_kommune ON audit_log (kommunenummer, id);
