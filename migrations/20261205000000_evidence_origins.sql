-- What an evidence row records of the event its example came from (event source and name) and
-- of the rule that mapped it, stored once per distinct triple (a few hundred at most) instead of
-- in every row, where it was more than a third of the row's bytes: every observe commit rewrites
-- most pages of the evidence table, so its size is what a commit costs (see store/rows.rs).
CREATE TABLE evidence_origins (
    id           INTEGER PRIMARY KEY,
    event_source TEXT    NOT NULL,
    event_name   TEXT    NOT NULL,
    rule         TEXT    NOT NULL,
    UNIQUE (event_source, event_name, rule)
);

INSERT INTO evidence_origins (event_source, event_name, rule)
    SELECT DISTINCT event_source, event_name, rule FROM evidence ORDER BY 1, 2, 3;

-- The evidence table again, with `origin` (an id of evidence_origins) for the three columns.
-- No REFERENCES: a foreign key is checked on every write, and only policy-miner writes here,
-- always with an origin it has just found or stored.
CREATE TABLE evidence_by_origin (
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
    -- evidence_origins.id: the example's event source and name, and the rule that mapped it.
    origin           INTEGER NOT NULL,
    -- Who made the calls: bits 1 (ECS or Fargate agent), 2 (application), 4 (unknown).
    callers          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (role_arn, action, resource, condition, error_code)
) WITHOUT ROWID;

INSERT INTO evidence_by_origin
    SELECT e.role_arn, e.action, e.resource, e.condition, e.error_code, e.count, e.first_seen,
           e.last_seen, e.example_event_id, o.id, e.callers
    FROM evidence e
    JOIN evidence_origins o
      ON o.event_source = e.event_source AND o.event_name = e.event_name AND o.rule = e.rule;

DROP TABLE evidence;
ALTER TABLE evidence_by_origin RENAME TO evidence;
