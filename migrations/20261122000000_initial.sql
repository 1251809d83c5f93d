-- Aggregated evidence: one row per (role, action, resource, condition context, outcome).
-- Raw events are never stored; each row keeps one example event id to find the original.
CREATE TABLE evidence (
    role_arn         TEXT    NOT NULL,
    action           TEXT    NOT NULL,
    -- Policy syntax: literal names escaped (${*}, ${?}, ${$}); '*' when no resource applies.
    resource         TEXT    NOT NULL,
    -- Canonical JSON object of condition keys, '' when unconditional.
    condition        TEXT    NOT NULL DEFAULT '',
    -- '' for successful calls; the CloudTrail errorCode otherwise.
    error_code       TEXT    NOT NULL DEFAULT '',
    count            INTEGER NOT NULL,
    first_seen       TEXT    NOT NULL,
    last_seen        TEXT    NOT NULL,
    example_event_id TEXT    NOT NULL,
    event_source     TEXT    NOT NULL,
    event_name       TEXT    NOT NULL,
    rule             TEXT    NOT NULL,
    PRIMARY KEY (role_arn, action, resource, condition, error_code)
) WITHOUT ROWID;

-- Role calls that produce no grant: unmapped events (no IAM action fits) and calls that need no
-- permission. Listed by propose with their counts.
CREATE TABLE ungranted_calls (
    role_arn         TEXT    NOT NULL,
    event_source     TEXT    NOT NULL,
    event_name       TEXT    NOT NULL,
    error_code       TEXT    NOT NULL DEFAULT '',
    kind             TEXT    NOT NULL CHECK (kind IN ('unmapped', 'no_permission')),
    reason           TEXT    NOT NULL,
    count            INTEGER NOT NULL,
    first_seen       TEXT    NOT NULL,
    last_seen        TEXT    NOT NULL,
    example_event_id TEXT    NOT NULL,
    PRIMARY KEY (role_arn, event_source, event_name, error_code)
) WITHOUT ROWID;

-- Task definitions as loaded; the body is kept whole for later derivations.
CREATE TABLE task_definitions (
    family             TEXT    NOT NULL,
    revision           INTEGER NOT NULL DEFAULT 0,
    task_role_arn      TEXT,
    execution_role_arn TEXT,
    source             TEXT    NOT NULL,
    body               TEXT    NOT NULL,
    loaded_at          TEXT    NOT NULL,
    PRIMARY KEY (family, revision)
);

-- Trace units already counted, written in the same transaction as their evidence so that a
-- file is never counted twice.
CREATE TABLE observed_files (
    fingerprint  TEXT    NOT NULL PRIMARY KEY,
    path         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    events       INTEGER NOT NULL,
    observed_at  TEXT    NOT NULL
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    command     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    summary     TEXT NOT NULL
);
