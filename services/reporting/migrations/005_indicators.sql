-- Indicators: the catalogue (IndicatorDefined, the highest revision wins) and the values of
-- record (IndicatorReported, per municipality, indicator and year the highest revision wins;
-- events without a revision rank by sequence). Projection tables: a rebuild makes them again.
CREATE TABLE indicators (
    indicator       text PRIMARY KEY,
    revision        integer NOT NULL,
    theme           text NOT NULL,
    label           text NOT NULL,
    unit            text NOT NULL,
    decimals        integer NOT NULL,
    direction       text NOT NULL,
    source          text NOT NULL,
    per_inhabitant  boolean NOT NULL,
    minimum         double precision,
    maximum         double precision,
    retired         boolean NOT NULL,
    sequence        bigint NOT NULL,
    defined_at      timestamptz NOT NULL
);

CREATE TABLE indicator_values (
    kommunenummer  text NOT NULL,                  -- the code in use in that year (as reported)
    indicator      text NOT NULL,
    year           integer NOT NULL,
    valid_on       date NOT NULL,
    value          double precision,               -- NULL when missing or confidential
    status         text NOT NULL,                  -- preliminary, final, missing, confidential
    revision       integer NOT NULL,               -- 0 for an event without one
    sequence       bigint NOT NULL,
    reported_at    timestamptz NOT NULL,
    PRIMARY KEY (kommunenummer, indicator, year)
);
CREATE INDEX indicator_values_indicator ON indicator_values (indicator, year);
