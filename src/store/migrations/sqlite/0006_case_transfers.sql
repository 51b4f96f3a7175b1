-- Cases handed to another organisation's guidance: who sent what to whom, and the case
-- document as it was sent (the sender keeps read access to that snapshot).
CREATE TABLE case_transfers (
    id         TEXT NOT NULL UNIQUE,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    seq        INTEGER NOT NULL,
    from_org   TEXT NOT NULL,
    to_org     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    note       TEXT,
    at         TEXT NOT NULL,
    by_client  TEXT NOT NULL,
    document   TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX case_transfers_from ON case_transfers (from_org, case_id);
