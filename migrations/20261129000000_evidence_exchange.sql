-- `export` / `import`: evidence carried from the databases that collect it (sidecars) to the one
-- where propose runs.
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- The latest snapshot imported from each exporting database. A snapshot holds all of its
-- database's evidence, so a newer one replaces the older one (its rows are taken back out of the
-- evidence tables before the new ones are added) and an older or equal one is skipped: importing
-- the same files again never counts a call twice.
CREATE TABLE imports (
    origin      TEXT    NOT NULL PRIMARY KEY,
    sequence    INTEGER NOT NULL,
    path        TEXT    NOT NULL,
    imported_at TEXT    NOT NULL,
    -- The snapshot's rows as imported (JSON), to take back out when a newer one comes.
    body        TEXT    NOT NULL
);
