-- Which gateway runs each scheduled job: with replicas on one database, one at a time, and
-- once per scheduled time (`slot`). A lease whose `until` has passed may be taken over.
CREATE TABLE job_leases (
    job    TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT COLLATE "C" NOT NULL,
    slot   TEXT COLLATE "C" NOT NULL,
    until  TEXT COLLATE "C" NOT NULL
);
