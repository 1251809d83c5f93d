-- Where each piece of evidence came from, per source: 'csm' for AWS SDK client-side monitoring
-- (`observe --listen-csm`). Rows of the evidence table with no row here come from CloudTrail.
-- Same key as evidence, plus the source; counts are per source and add up to at most the
-- evidence row's count.
CREATE TABLE evidence_sources (
    role_arn    TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    -- '?' for SDK monitoring: the call's resource is unknown (not '*', which means "no resource").
    resource    TEXT    NOT NULL,
    condition   TEXT    NOT NULL DEFAULT '',
    error_code  TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    first_seen  TEXT    NOT NULL,
    last_seen   TEXT    NOT NULL,
    PRIMARY KEY (role_arn, action, resource, condition, error_code, source)
) WITHOUT ROWID;
