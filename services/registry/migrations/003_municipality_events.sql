-- Each kommunenummer's event sequence: MunicipalityRegistered and MunicipalityChanged key on the
-- kommunenummer, and every such event carries the next number, so subscribers can see order and
-- gaps. Raised in the import's own transaction, with the events written to the outbox.
CREATE TABLE municipality_sequences (
    kommunenummer  text PRIMARY KEY CHECK (kommunenummer ~ '^[0-9]{4}$'),
    sequence       bigint NOT NULL CHECK (sequence >= 1)
);
