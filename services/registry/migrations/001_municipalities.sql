-- Municipalities (kommuner) and counties (fylker) through time, from SSB KLASS 131 and 104.
-- A row is a dated version: one code, one name, valid in [valid_from, valid_to) (valid_to NULL:
-- still valid). A bare kommunenummer is no key: codes are renumbered, merged, split and reused.
-- valid_from_known = false: the code already existed when the data starts (at least since then).

CREATE TABLE county_versions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    fylkesnummer        text NOT NULL CHECK (fylkesnummer ~ '^[0-9]{2}$'),
    name                text NOT NULL,
    valid_from          date NOT NULL,
    valid_to            date CHECK (valid_to > valid_from),
    valid_from_known    boolean NOT NULL,
    predecessors        text[] NOT NULL DEFAULT '{}',
    successors          text[] NOT NULL DEFAULT '{}',
    imported_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (fylkesnummer, valid_from)
);

CREATE TABLE municipality_versions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kommunenummer       text NOT NULL CHECK (kommunenummer ~ '^[0-9]{4}$'),
    fylkesnummer        text NOT NULL GENERATED ALWAYS AS (left(kommunenummer, 2)) STORED,
    name                text NOT NULL,
    organisasjonsnummer text CHECK (organisasjonsnummer ~ '^[0-9]{9}$'),
    valid_from          date NOT NULL,
    valid_to            date CHECK (valid_to > valid_from),
    valid_from_known    boolean NOT NULL,
    predecessors        text[] NOT NULL DEFAULT '{}',
    successors          text[] NOT NULL DEFAULT '{}',
    imported_at         timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kommunenummer, valid_from)
);
CREATE INDEX municipality_versions_county ON municipality_versions (fylkesnummer, valid_from);

-- The links between versions (kommuneendringer): old_kommunenummer's version valid the day
-- before `occurred` (old_valid_from; NULL when it lies before the data) went, wholly or in
-- part, into new_kommunenummer's version starting on `occurred`.
CREATE TABLE municipality_successions (
    old_kommunenummer   text NOT NULL CHECK (old_kommunenummer ~ '^[0-9]{4}$'),
    old_valid_from      date,
    new_kommunenummer   text NOT NULL CHECK (new_kommunenummer ~ '^[0-9]{4}$'),
    occurred            date NOT NULL,
    kind                text NOT NULL
                        CHECK (kind IN ('rename', 'renumber', 'merge', 'split', 'boundary')),
    PRIMARY KEY (old_kommunenummer, new_kommunenummer, occurred)
);
CREATE INDEX municipality_successions_new ON municipality_successions (new_kommunenummer, occurred);

-- At most one version of a code on any day. (An exclusion constraint would need btree_gist,
-- which the embedded server lacks.) Checked at commit, so an import may move a version's end
-- and add the next one in either order.
CREATE FUNCTION registry_versions_must_not_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    code_column text := TG_ARGV[0];
    clash boolean;
BEGIN
    -- The row as it is now, not as this event saw it: it may have changed since.
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM %1$I.%2$I n JOIN %1$I.%2$I o ON o.%3$I = n.%3$I AND o.id <> n.id
                         AND daterange(o.valid_from, o.valid_to) && daterange(n.valid_from, n.valid_to)
                         WHERE n.id = $1)',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, code_column)
    INTO clash USING NEW.id;
    IF clash THEN
        RAISE EXCEPTION 'two versions of % % overlap from %', code_column,
            to_jsonb(NEW) ->> code_column, NEW.valid_from
            USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER municipality_versions_no_overlap
    AFTER INSERT OR UPDATE ON municipality_versions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION registry_versions_must_not_overlap('kommunenummer');

CREATE CONSTRAINT TRIGGER county_versions_no_overlap
    AFTER INSERT OR UPDATE ON county_versions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION registry_versions_must_not_overlap('fylkesnummer');
