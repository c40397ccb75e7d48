-- Published versions of the national statistics: frozen, each at its own URL for good.
-- Not a projection: a publication is a command of programme staff, so a rebuild never touches it.
CREATE TABLE published_datasets (
    dataset_id     text NOT NULL,
    version        integer NOT NULL,               -- 1, 2, ... per dataset: the event's sequence
    period_start   date NOT NULL,
    period_end     date NOT NULL,
    harmonised_to  integer,                        -- the year whose codes the geo dimension uses
    href           text NOT NULL,
    document       text NOT NULL,                  -- the JSON-stat 2.0 document, byte for byte
    published_at   timestamptz NOT NULL,
    published_by   text NOT NULL,                  -- the token's subject, for audit
    event_id       uuid NOT NULL,
    PRIMARY KEY (dataset_id, version)
);
