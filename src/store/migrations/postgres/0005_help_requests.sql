-- The "ask for help" button: a case's public reference (APU-2026-000123) and when its answer
-- is due. Both are also in the case document; the columns are what lookups and the overdue
-- listing filter on.
ALTER TABLE cases ADD COLUMN reference TEXT COLLATE "C";
ALTER TABLE cases ADD COLUMN due_by TEXT COLLATE "C";
CREATE UNIQUE INDEX cases_reference ON cases (reference) WHERE reference IS NOT NULL;
CREATE INDEX cases_due_by ON cases (due_by) WHERE due_by IS NOT NULL;
