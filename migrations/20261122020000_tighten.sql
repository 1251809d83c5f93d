-- `tighten --apply` and `rollback`: every change policy-miner makes to a role, and the role's
-- permissions just before it, stored before the first write so that rollback can restore them.
CREATE TABLE iam_changes (
    id            INTEGER PRIMARY KEY,
    -- The role as the evidence names it, and the name IAM knows it by (roles are matched by name).
    role_arn      TEXT    NOT NULL,
    role_name     TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('apply', 'rollback')),
    started_at    TEXT    NOT NULL,
    finished_at   TEXT,
    -- sts:GetCallerIdentity ARN of the credentials used, or 'unknown'.
    principal_arn TEXT    NOT NULL,
    -- 'started' until every write succeeded ('done') or one failed ('failed', see error).
    status        TEXT    NOT NULL CHECK (status IN ('started', 'done', 'failed')),
    error         TEXT,
    -- The inline policy policy-miner writes, and the document written (apply only).
    policy_name   TEXT    NOT NULL,
    new_document  TEXT,
    -- For a rollback: the change whose previous state it restored.
    restores      INTEGER REFERENCES iam_changes (id),
    -- JSON: what was written, removed and detached, and how the proposal was validated.
    summary       TEXT    NOT NULL
);

CREATE INDEX iam_changes_role ON iam_changes (role_arn, id);

-- Inline policies of the role before the change: the document text exactly as IAM returned it
-- (URL-decoded), so that rollback puts back the same bytes.
CREATE TABLE iam_previous_inline (
    change_id   INTEGER NOT NULL REFERENCES iam_changes (id),
    policy_name TEXT    NOT NULL,
    document    TEXT    NOT NULL,
    PRIMARY KEY (change_id, policy_name)
);

-- Managed policies attached to the role before the change (their documents are not ours to keep:
-- policy-miner never edits a managed policy, it only detaches and re-attaches it).
CREATE TABLE iam_previous_managed (
    change_id   INTEGER NOT NULL REFERENCES iam_changes (id),
    policy_arn  TEXT    NOT NULL,
    PRIMARY KEY (change_id, policy_arn)
);
