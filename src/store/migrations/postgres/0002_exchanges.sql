-- The durable outbox: every exchange with a national service, from acceptance to its end.
CREATE TABLE exchanges (
    id              TEXT COLLATE "C" PRIMARY KEY,
    service         TEXT COLLATE "C" NOT NULL,
    organisation    TEXT COLLATE "C" NOT NULL,
    operation       TEXT COLLATE "C" NOT NULL,
    payload         TEXT COLLATE "C" NOT NULL,
    person_key      TEXT COLLATE "C",
    case_id         TEXT COLLATE "C",
    status          TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- Where the current retry budget began: creation, or an operator's retry of a dead exchange.
    budget_attempt  BIGINT NOT NULL DEFAULT 0,
    budget_since    TEXT COLLATE "C" NOT NULL,
    due_at          TEXT COLLATE "C" NOT NULL,
    lease_until     TEXT COLLATE "C",
    upstream_id     TEXT COLLATE "C",
    last_error      TEXT COLLATE "C",
    recorded_by     TEXT COLLATE "C" NOT NULL,
    correlation_id  TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX exchanges_due ON exchanges (status, due_at);
CREATE INDEX exchanges_lease ON exchanges (status, lease_until);
CREATE INDEX exchanges_upstream ON exchanges (service, upstream_id);
CREATE INDEX exchanges_listing ON exchanges (organisation, id);

CREATE TABLE exchange_attempts (
    exchange_id  TEXT COLLATE "C" NOT NULL,
    attempt      BIGINT NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,
    outcome      TEXT COLLATE "C" NOT NULL,
    latency_ms   BIGINT NOT NULL,
    error        TEXT COLLATE "C",
    PRIMARY KEY (exchange_id, attempt)
);

-- What the service reported later about an exchange (e.g. the message was read).
CREATE TABLE exchange_events (
    exchange_id  TEXT COLLATE "C" NOT NULL,
    kind         TEXT COLLATE "C" NOT NULL,
    type         TEXT COLLATE "C" NOT NULL,
    time         TEXT COLLATE "C" NOT NULL,
    recorded_at  TEXT COLLATE "C" NOT NULL
);
CREATE UNIQUE INDEX exchange_events_unique ON exchange_events (exchange_id, type, time);

-- Scheduled job runs, and each job's state between runs (e.g. an events continuation token).
CREATE TABLE job_runs (
    id           TEXT COLLATE "C" PRIMARY KEY,
    job          TEXT COLLATE "C" NOT NULL,
    started_at   TEXT COLLATE "C" NOT NULL,
    finished_at  TEXT COLLATE "C" NOT NULL,
    outcome      TEXT COLLATE "C" NOT NULL,
    counts       TEXT COLLATE "C" NOT NULL,
    error        TEXT COLLATE "C"
);
CREATE INDEX job_runs_job ON job_runs (job, started_at);

CREATE TABLE job_state (
    job    TEXT COLLATE "C" NOT NULL,
    key    TEXT COLLATE "C" NOT NULL,
    value  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (job, key)
);
