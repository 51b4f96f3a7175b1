-- Suomi.fi Identification: outstanding AuthnRequests, accepted assertion ids (replay protection
-- that survives restarts) and login sessions (found by NameID and SessionIndex at logout).
CREATE TABLE saml_requests (
    relay_state TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    return_to   TEXT NOT NULL,
    locale      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

CREATE TABLE saml_assertions (
    id         TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL,
    seen_at    TEXT NOT NULL
);

CREATE TABLE login_sessions (
    id            TEXT PRIMARY KEY,
    name_id       TEXT NOT NULL,
    session_index TEXT,
    person_key    TEXT,
    loa           TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ended_at      TEXT
);
CREATE INDEX login_sessions_by_name_id ON login_sessions (name_id);
