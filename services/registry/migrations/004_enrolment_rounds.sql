-- A municipality that withdraws and enrols again needs a new political decision: only decisions
-- recorded since its latest submission count towards confirmation.
ALTER TABLE enrolments ADD COLUMN submitted_at timestamptz;
UPDATE enrolments SET submitted_at = updated_at WHERE status IN ('submitted', 'confirmed');
