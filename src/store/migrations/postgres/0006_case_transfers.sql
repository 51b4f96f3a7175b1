-- Cases handed to another organisation's guidance: who sent what to whom, and the case
-- document as it was sent (the sender keeps read access to that snapshot).
CREATE TABLE case_transfers (
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    case_id    TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    seq        BIGINT NOT NULL,
    from_org   TEXT COLLATE "C" NOT NULL,
    to_org     TEXT COLLATE "C" NOT NULL,
    reason     TEXT COLLATE "C" NOT NULL,
    note       TEXT COLLATE "C",
    at         TEXT COLLATE "C" NOT NULL,
    by_client  TEXT COLLATE "C" NOT NULL,
    document   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX case_transfers_from ON case_transfers (from_org, case_id);
