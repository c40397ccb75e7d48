-- What the gatherings service knows of networks and members: learnt from the registry's events
-- through the inbox. Events about one network come on several topics in no set order, so a
-- member's status is that of its latest event by the network's sequence, and a NetworkClosed that
-- arrives before its NetworkCreated is kept (the network is known once it has a name).
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
    sequence       bigint NOT NULL,                -- of the registry event that set it
    PRIMARY KEY (network_id, kommunenummer)
);
CREATE INDEX members_kommune ON members (kommunenummer);

-- A gathering (nettverkssamling): its plan in Europe/Oslo local time, and where it stands.
CREATE TABLE gatherings (
    id                    uuid PRIMARY KEY,
    network_id            uuid NOT NULL REFERENCES networks (network_id),
    starts_on             date NOT NULL,
    start_time            time NOT NULL,
    ends_on               date,
    end_time              time NOT NULL,
    place                 text NOT NULL,
    host                  text NOT NULL,
    host_valid_on         date NOT NULL,
    capacity              integer NOT NULL CHECK (capacity > 0),
    registration_deadline date NOT NULL,
    status                text NOT NULL,           -- planned, cancelled, held
    cancel_reason         text,
    revision              integer NOT NULL DEFAULT 0,   -- iCalendar SEQUENCE
    sequence              bigint NOT NULL DEFAULT 0,    -- events so far (CloudEvents sequence)
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX gatherings_network ON gatherings (network_id, starts_on);
CREATE INDEX gatherings_host ON gatherings (host);

CREATE TABLE agenda_items (
    gathering_id   uuid NOT NULL REFERENCES gatherings (id),
    position       integer NOT NULL,
    kind           text NOT NULL,                  -- case, talk, session
    day            date NOT NULL,
    starts_at      time NOT NULL,
    ends_at        time,
    title          text NOT NULL,
    kommunenummer  text,
    theme          text,
    summary        text,
    resource_name  text,                           -- an institution, never a person
    resource_kind  text,
    PRIMARY KEY (gathering_id, position)
);

-- Registered participants. `name` is personal data: it stays in this table, it is never put on a
-- topic or in a log, and only the municipality itself and the planners read it.
CREATE TABLE participants (
    person_id      uuid PRIMARY KEY,               -- the opaque id ParticipantRegistered carries
    gathering_id   uuid NOT NULL REFERENCES gatherings (id),
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    role_category  text NOT NULL,
    name           text,
    registered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX participants_gathering ON participants (gathering_id, kommunenummer);

-- A gathering held: attendance, cases presented, experience sharing (erfaringsdeling).
CREATE TABLE attendance (
    gathering_id   uuid NOT NULL REFERENCES gatherings (id),
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    role_category  text NOT NULL,
    count          integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (gathering_id, kommunenummer, role_category)
);

CREATE TABLE cases_presented (
    gathering_id   uuid NOT NULL REFERENCES gatherings (id),
    position       integer NOT NULL,
    kommunenummer  text NOT NULL,
    title          text NOT NULL,
    PRIMARY KEY (gathering_id, position)
);

CREATE TABLE experience_sharing (
    gathering_id   uuid PRIMARY KEY REFERENCES gatherings (id),
    notes          text NOT NULL,
    good_examples  jsonb NOT NULL                  -- [{"title", "text", "kommunenummer"}]
);

-- Calendar feeds: a secret address per feed (as Google Calendar's), issued to a contact or to
-- staff for a network's or a municipality's gatherings. Only the secret's SHA-256 is kept.
CREATE TABLE feeds (
    id             uuid PRIMARY KEY,
    secret_sha256  bytea NOT NULL UNIQUE,
    network_id     uuid,
    kommunenummer  text,
    issued_to      text NOT NULL,                  -- the token's subject
    issued_role    text NOT NULL,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    CHECK ((network_id IS NULL) <> (kommunenummer IS NULL))
);

-- Who did what: the token's subject and role, never a name; the reason given for a move or a
-- cancellation.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    actor_role     text NOT NULL,
    action         text NOT NULL,
    gathering_id   uuid,
    network_id     uuid,
    event_id       uuid,
    reason         text
);
CREATE INDEX audit_log_gathering ON audit_log (gathering_id);
