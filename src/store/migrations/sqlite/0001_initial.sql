-- Cases as their canonical JSON document, with the columns that queries filter on.
CREATE TABLE cases (
    id           TEXT PRIMARY KEY,
    organiser    TEXT NOT NULL,
    owner        TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    person_key   TEXT,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    document     TEXT NOT NULL
);
CREATE INDEX cases_owner_received ON cases (owner, received_at, id);
CREATE INDEX cases_organiser_received ON cases (organiser, received_at, id);
CREATE INDEX cases_person ON cases (person_key);

-- The audit trail; see src/audit/chain.rs for how hash covers the row.
CREATE TABLE audit_log (
    seq              INTEGER PRIMARY KEY,
    time             TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    end_user         TEXT,
    role             TEXT,
    action           TEXT NOT NULL,
    purpose          TEXT,
    person           TEXT,
    organisation     TEXT,
    service          TEXT,
    exchange_id      TEXT,
    outcome          TEXT NOT NULL,
    request_digest   TEXT,
    response_digest  TEXT,
    correlation_id   TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
CREATE INDEX audit_person ON audit_log (person, seq);
CREATE INDEX audit_time ON audit_log (time, seq);
CREATE INDEX audit_client ON audit_log (client_id, seq);

-- Append-only, enforced by the database as well as by the code.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- The first response to each (client, Idempotency-Key), replayed for a repeat.
CREATE TABLE idempotency (
    client_id     TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    location      TEXT,
    body          BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
