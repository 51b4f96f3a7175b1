-- Which gateway runs each scheduled job: with replicas on one database, one at a time, and
-- once per scheduled time (`slot`). A lease whose `until` has passed may be taken over.
CREATE TABLE job_leases (
    job    TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    slot   TEXT NOT NULL,
    until  TEXT NOT NULL
);
