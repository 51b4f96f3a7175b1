-- Suomi.fi Identification: outstanding AuthnRequests, accepted assertion ids (replay protection
-- that survives restarts) and login sessions (found by NameID and SessionIndex at logout).
CREATE TABLE saml_requests (
    relay_state TEXT COLLATE "C" PRIMARY KEY,
    request_id  TEXT COLLATE "C" NOT NULL,
    return_to   TEXT COLLATE "C" NOT NULL,
    locale      TEXT COLLATE "C" NOT NULL,
    created_at  TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C" NOT NULL,
    used_at     TEXT COLLATE "C"
);

CREATE TABLE saml_assertions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    expires_at TEXT COLLATE "C" NOT NULL,
    seen_at    TEXT COLLATE "C" NOT NULL
);

CREATE TABLE login_sessions (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name_id       TEXT COLLATE "C" NOT NULL,
    session_index TEXT COLLATE "C",
    person_key    TEXT COLLATE "C",
    loa           TEXT COLLATE "C" NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    ended_at      TEXT COLLATE "C"
);
CREATE INDEX login_sessions_by_name_id ON login_sessions (name_id);
