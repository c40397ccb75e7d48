-- Idempotency keys (IETF httpapi Idempotency-Key draft): a command's first answer, kept for 24 hours
-- and written in the command's own transaction, so that a client may retry it safely. Requests with
-- one key wait for each other on a transaction-level advisory lock (see unit_of_work.py).
CREATE TABLE idempotency_keys (
    subject     text NOT NULL,                     -- the token's subject: keys are per client
    key         text NOT NULL,
    fingerprint text NOT NULL,                     -- sha256 of method, path and body
    status      integer NOT NULL,
    response    bytea NOT NULL,                    -- the first answer's JSON body
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
