-- The plan cycle: one plan per network and municipality (its id is derived from the two), an
-- aggregate whose row each command locks and whose `sequence` counts its events. Every step is a
-- dated row that is never changed: a revision of a goal or a measure is a new row.
CREATE TABLE plans (
    plan_id        uuid PRIMARY KEY,
    network_id     uuid NOT NULL,
    kommunenummer  text NOT NULL,
    valid_on       date NOT NULL,
    sequence       bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    UNIQUE (network_id, kommunenummer)
);

CREATE TABLE status_assessments (
    assessment_id  uuid PRIMARY KEY,
    plan_id        uuid NOT NULL REFERENCES plans (plan_id),
    assessed_on    date NOT NULL,
    summary        text NOT NULL,
    recorded_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL
);
CREATE INDEX status_assessments_plan ON status_assessments (plan_id, assessed_on);

CREATE TABLE goal_revisions (
    goal_id        uuid NOT NULL,
    revision       integer NOT NULL,
    plan_id        uuid NOT NULL REFERENCES plans (plan_id),
    title          text NOT NULL,
    description    text,
    theme          text,
    indicator      text REFERENCES indicators (id),
    target_value   double precision,
    target_year    integer,
    set_on         date NOT NULL,
    withdrawn      boolean NOT NULL,
    recorded_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL,
    PRIMARY KEY (goal_id, revision)
);
CREATE INDEX goal_revisions_plan ON goal_revisions (plan_id);

-- `responsible` is the party responsible for the measure: an office or body (e.g. "Teknisk
-- etat"); it stays here, off the topics, in case someone writes a person's name in it.
CREATE TABLE measure_revisions (
    measure_id     uuid NOT NULL,
    revision       integer NOT NULL,
    plan_id        uuid NOT NULL REFERENCES plans (plan_id),
    goal_id        uuid,
    title          text NOT NULL,
    description    text,
    responsible    text NOT NULL,
    due_date       date NOT NULL,
    status         text NOT NULL,
    dated_on       date NOT NULL,                  -- planned_on (revision 1) or changed_on
    note           text,
    recorded_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL,
    PRIMARY KEY (measure_id, revision)
);
CREATE INDEX measure_revisions_plan ON measure_revisions (plan_id);

CREATE TABLE evaluations (
    evaluation_id  uuid PRIMARY KEY,
    measure_id     uuid NOT NULL,
    plan_id        uuid NOT NULL REFERENCES plans (plan_id),
    evaluated_on   date NOT NULL,
    verdict        text NOT NULL,
    findings       text NOT NULL,
    recorded_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL
);
CREATE INDEX evaluations_measure ON evaluations (measure_id, evaluated_on);

CREATE TABLE plan_reports (
    report_id      uuid PRIMARY KEY,
    plan_id        uuid NOT NULL REFERENCES plans (plan_id),
    document       text NOT NULL,
    year           integer NOT NULL,
    reported_on    date NOT NULL,
    reference      text,                           -- where in the document, e.g. a case number
    recorded_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL
);
CREATE INDEX plan_reports_plan ON plan_reports (plan_id, reported_on);
