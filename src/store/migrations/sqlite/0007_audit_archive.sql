-- Signed checkpoints of the audit chain's head; see src/audit/checkpoint.rs for the signed bytes.
CREATE TABLE audit_checkpoints (
    id              INTEGER PRIMARY KEY,
    seq             INTEGER NOT NULL,
    hash            TEXT NOT NULL,
    time            TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    algorithm       TEXT NOT NULL,
    signature       TEXT NOT NULL,
    -- The RFC 3161 token (DER, Base64) over the signed bytes, when the TSA gave one.
    timestamp_token TEXT,
    timestamped_at  TEXT
);
CREATE INDEX audit_checkpoints_seq ON audit_checkpoints (seq, id);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;

-- Segments of the chain written out to archive files; their rows may then leave audit_log.
CREATE TABLE audit_archives (
    first_seq   INTEGER PRIMARY KEY,
    last_seq    INTEGER NOT NULL,
    prev_hash   TEXT NOT NULL,
    last_hash   TEXT NOT NULL,
    file        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives
BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only'); END;
CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives
BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only'); END;

-- Still append-only, except for rows a recorded archive holds.
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_archives WHERE OLD.seq BETWEEN first_seq AND last_seq)
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (only archived rows may be removed)'); END;

-- Exchange payloads have a retention of their own; the audit chain holds only digests.
ALTER TABLE exchanges ADD COLUMN payload_pruned_at TEXT;
