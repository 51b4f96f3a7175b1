-- The durable outbox: every exchange with a national service, from acceptance to its end.
CREATE TABLE exchanges (
    id              TEXT PRIMARY KEY,
    service         TEXT NOT NULL,
    organisation    TEXT NOT NULL,
    operation       TEXT NOT NULL,
    payload         TEXT NOT NULL,
    person_key      TEXT,
    case_id         TEXT,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Where the current retry budget began: creation, or an operator's retry of a dead exchange.
    budget_attempt  INTEGER NOT NULL DEFAULT 0,
    budget_since    TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    lease_until     TEXT,
    upstream_id     TEXT,
    last_error      TEXT,
    recorded_by     TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX exchanges_due ON exchanges (status, due_at);
CREATE INDEX exchanges_lease ON exchanges (status, lease_until);
CREATE INDEX exchanges_upstream ON exchanges (service, upstream_id);
CREATE INDEX exchanges_listing ON exchanges (organisation, id);

CREATE TABLE exchange_attempts (
    exchange_id  TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    latency_ms   INTEGER NOT NULL,
    error        TEXT,
    PRIMARY KEY (exchange_id, attempt)
);

-- What the service reported later about an exchange (e.g. the message was read).
CREATE TABLE exchange_events (
    exchange_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    type         TEXT NOT NULL,
    time         TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX exchange_events_unique ON exchange_events (exchange_id, type, time);

-- Scheduled job runs, and each job's state between runs (e.g. an events continuation token).
CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job          TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    counts       TEXT NOT NULL,
    error        TEXT
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);

CREATE TABLE job_state (
    job    TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job, key)
);
