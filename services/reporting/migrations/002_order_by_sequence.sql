-- One topic per event type means a network's events arrive in no particular order across
-- topics (and a rebuild from offset zero interleaves them anyhow). So the projection orders
-- by each event's sequence in its network: a member's status is the one of its latest event,
-- and a NetworkClosed that arrives before its NetworkCreated is kept, not lost.
ALTER TABLE networks
    ALTER COLUMN name DROP NOT NULL,
    ALTER COLUMN themes DROP NOT NULL,
    ALTER COLUMN period_start DROP NOT NULL,
    ALTER COLUMN period_end DROP NOT NULL,
    ALTER COLUMN enrolment_deadline DROP NOT NULL,
    ALTER COLUMN created_at DROP NOT NULL;
ALTER TABLE members ADD COLUMN sequence bigint NOT NULL DEFAULT 0;
