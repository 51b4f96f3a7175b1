-- The exchanges made for a case (e.g. its Kanta documents and their versions).
CREATE INDEX exchanges_by_case ON exchanges (case_id, service) WHERE case_id IS NOT NULL;
