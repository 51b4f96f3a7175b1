-- PostgreSQL twin of ../sqlite/ (same versions, same tables). Text is compared byte by byte
-- (COLLATE "C"), as SQLite does: timestamps and ids are fixed-width text whose byte order is
-- their order, whatever locale the database was created with.
-- Cases as their canonical JSON document, with the columns that queries filter on.
CREATE TABLE cases (
    id           TEXT COLLATE "C" PRIMARY KEY,
    organiser    TEXT COLLATE "C" NOT NULL,
    owner        TEXT COLLATE "C" NOT NULL,
    received_at  TEXT COLLATE "C" NOT NULL,
    person_key   TEXT COLLATE "C",
    recorded_by  TEXT COLLATE "C" NOT NULL,
    recorded_at  TEXT COLLATE "C" NOT NULL,
    document     TEXT COLLATE "C" NOT NULL
);
CREATE INDEX cases_owner_received ON cases (owner, received_at, id);
CREATE INDEX cases_organiser_received ON cases (organiser, received_at, id);
CREATE INDEX cases_person ON cases (person_key);

-- The audit trail; see src/audit/chain.rs for how hash covers the row.
CREATE TABLE audit_log (
    seq              BIGINT PRIMARY KEY,
    time             TEXT COLLATE "C" NOT NULL,
    client_id        TEXT COLLATE "C" NOT NULL,
    end_user         TEXT COLLATE "C",
    role             TEXT COLLATE "C",
    action           TEXT COLLATE "C" NOT NULL,
    purpose          TEXT COLLATE "C",
    person           TEXT COLLATE "C",
    organisation     TEXT COLLATE "C",
    service          TEXT COLLATE "C",
    exchange_id      TEXT COLLATE "C",
    outcome          TEXT COLLATE "C" NOT NULL,
    request_digest   TEXT COLLATE "C",
    response_digest  TEXT COLLATE "C",
    correlation_id   TEXT COLLATE "C" NOT NULL,
    prev_hash        TEXT COLLATE "C" NOT NULL,
    hash             TEXT COLLATE "C" NOT NULL
);
CREATE INDEX audit_person ON audit_log (person, seq);
CREATE INDEX audit_time ON audit_log (time, seq);
CREATE INDEX audit_client ON audit_log (client_id, seq);

-- Append-only, enforced by the database as well as by the code.
CREATE FUNCTION portti_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
FOR EACH ROW EXECUTE FUNCTION portti_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION portti_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION portti_append_only();

-- The first response to each (client, Idempotency-Key), replayed for a repeat.
CREATE TABLE idempotency (
    client_id     TEXT COLLATE "C" NOT NULL,
    key           TEXT COLLATE "C" NOT NULL,
    request_hash  TEXT COLLATE "C" NOT NULL,
    status        BIGINT NOT NULL,
    location      TEXT COLLATE "C",
    body          BYTEA NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (client_id, key)
);
