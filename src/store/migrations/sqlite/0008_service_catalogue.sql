-- The Suomi.fi Finnish Service Catalogue (PTV) as last synced, per municipality. A row is
-- rewritten only when its content hash changes; a service or channel gone from a complete sync
-- keeps its row with removed_at set, and comes back (removed_at cleared) if it reappears.
CREATE TABLE ptv_services (
    municipality TEXT NOT NULL,
    id           TEXT NOT NULL,
    hash         TEXT NOT NULL,
    document     TEXT NOT NULL,
    -- Lower-cased name, summary and description as shown in each language (Finnish where a
    -- language version is missing), for case-insensitive search beyond ASCII.
    search_fi    TEXT NOT NULL,
    search_sv    TEXT NOT NULL,
    search_en    TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    changed_at   TEXT NOT NULL,
    removed_at   TEXT,
    PRIMARY KEY (municipality, id)
);
CREATE INDEX ptv_services_by_id ON ptv_services (id);

CREATE TABLE ptv_channels (
    municipality TEXT NOT NULL,
    id           TEXT NOT NULL,
    hash         TEXT NOT NULL,
    document     TEXT NOT NULL,
    first_seen   TEXT NOT NULL,
    changed_at   TEXT NOT NULL,
    removed_at   TEXT,
    PRIMARY KEY (municipality, id)
);
