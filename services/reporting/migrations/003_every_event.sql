-- Reporting projects every event the registry and gatherings publish.
--
-- Events of one aggregate (a network, a gathering, a kommunenummer) come on several topics in no
-- set order, so each row keeps the sequence of the event that set it and the latest sequence
-- wins: live consumption and a rebuild from offset zero give the same rows whatever the
-- interleaving. No column holds this service's clock: every time is an event's own `time`.
-- No person is projected: contacts and participants are counted by role, never named or keyed.
-- Columns added here stay empty on rows projected before; `livskraft reporting rebuild` fills them.
-- The projection's tables are listed in services/reporting/store.py (PROJECTION_TABLES): the
-- rebuild clones them, so they use no serial columns and no foreign keys.

ALTER TABLE networks
    ADD COLUMN target_size_min  integer,
    ADD COLUMN target_size_max  integer,
    ADD COLUMN created_sequence bigint NOT NULL DEFAULT 0,  -- of its NetworkCreated; 0: not seen yet
    ADD COLUMN closed_sequence  bigint NOT NULL DEFAULT 0,  -- of its NetworkClosed; 0: not closed
    ADD COLUMN closed_at        timestamptz;
UPDATE networks SET created_sequence = 1 WHERE name IS NOT NULL;
UPDATE networks SET closed_sequence = 1 WHERE closed_reason IS NOT NULL;

-- A member's status is its latest event's; enrolled_at is the time of its first event by sequence.
ALTER TABLE members
    ADD COLUMN first_sequence bigint NOT NULL DEFAULT 0,
    ADD COLUMN updated_at     timestamptz;
UPDATE members SET first_sequence = sequence;

-- Every enrolment event, in its network's sequence: the states a member went through.
CREATE TABLE enrolment_history (
    network_id     uuid NOT NULL,
    sequence       bigint NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    status         text NOT NULL,                  -- invited, submitted, confirmed, withdrawn
    late_override  boolean NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (network_id, sequence)
);

ALTER TABLE decisions
    ADD COLUMN meeting_date date,
    ADD COLUMN sequence     bigint,
    ADD COLUMN recorded_at  timestamptz;

-- Contacts by role: which role a municipality filled in a network, never who.
CREATE TABLE contact_assignments (
    network_id     uuid NOT NULL,
    sequence       bigint NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    role           text NOT NULL,                  -- main-contact, steering-group, project-group
    assigned_at    timestamptz NOT NULL,
    PRIMARY KEY (network_id, sequence)
);
CREATE INDEX contact_assignments_member ON contact_assignments (network_id, kommunenummer);

-- Municipalities through time (SSB KLASS 131 by way of the registry): one row per dated version.
CREATE TABLE municipality_versions (
    kommunenummer       text NOT NULL,
    valid_from          date NOT NULL,
    valid_to            date,                      -- exclusive; null while in use
    name                text NOT NULL,
    county              text NOT NULL,
    organisation_number text,
    predecessors        jsonb NOT NULL,            -- [{"kommunenummer", "valid_on"}]
    sequence            bigint NOT NULL,           -- in the kommunenummer's own sequence
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (kommunenummer, valid_from)
);

-- Gatherings: the plan (latest Scheduled/Rescheduled/Cancelled), the status (latest of those and
-- GatheringHeld), and the day it was held (latest GatheringHeld), each by its own sequence.
CREATE TABLE gatherings (
    gathering_id        uuid PRIMARY KEY,
    network_id          uuid NOT NULL,
    starts_on           date,
    ends_on             date,
    place               text,
    host_kommunenummer  text,
    host_valid_on       date,
    plan_sequence       bigint NOT NULL,           -- 0: no plan seen yet
    status              text NOT NULL,             -- scheduled, cancelled, held
    status_sequence     bigint NOT NULL,
    status_at           timestamptz NOT NULL,
    held_on             date,
    held_sequence       bigint NOT NULL            -- 0: not held
);
CREATE INDEX gatherings_network ON gatherings (network_id);

-- Registered participants by municipality and role category; the person is not kept.
CREATE TABLE participants (
    gathering_id   uuid NOT NULL,
    sequence       bigint NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    role_category  text NOT NULL,
    registered_at  timestamptz NOT NULL,
    PRIMARY KEY (gathering_id, sequence)
);

-- Attendance and cases as the gathering's latest GatheringHeld reported them.
CREATE TABLE attendance (
    gathering_id   uuid NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    role_category  text NOT NULL,                  -- politician, management, department, resource
    count          integer NOT NULL,
    PRIMARY KEY (gathering_id, kommunenummer, role_category)
);

CREATE TABLE cases_presented (
    gathering_id   uuid NOT NULL,
    position       integer NOT NULL,               -- its place in the event's list
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    title          text NOT NULL,
    PRIMARY KEY (gathering_id, position)
);
