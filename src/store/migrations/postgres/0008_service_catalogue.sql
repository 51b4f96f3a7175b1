-- The Suomi.fi Finnish Service Catalogue (PTV) as last synced, per municipality. A row is
-- rewritten only when its content hash changes; a service or channel gone from a complete sync
-- keeps its row with removed_at set, and comes back (removed_at cleared) if it reappears.
CREATE TABLE ptv_services (
    municipality TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    hash         TEXT COLLATE "C" NOT NULL,
    document     TEXT COLLATE "C" NOT NULL,
    -- Lower-cased name, summary and description as shown in each language (Finnish where a
    -- language version is missing), for case-insensitive search beyond ASCII.
    search_fi    TEXT COLLATE "C" NOT NULL,
    search_sv    TEXT COLLATE "C" NOT NULL,
    search_en    TEXT COLLATE "C" NOT NULL,
    first_seen   TEXT COLLATE "C" NOT NULL,
    changed_at   TEXT COLLATE "C" NOT NULL,
    removed_at   TEXT COLLATE "C",
    PRIMARY KEY (municipality, id)
);
CREATE INDEX ptv_services_by_id ON ptv_services (id);

CREATE TABLE ptv_channels (
    municipality TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    hash         TEXT COLLATE "C" NOT NULL,
    document     TEXT COLLATE "C" NOT NULL,
    first_seen   TEXT COLLATE "C" NOT NULL,
    changed_at   TEXT COLLATE "C" NOT NULL,
    removed_at   TEXT COLLATE "C",
    PRIMARY KEY (municipality, id)
);
