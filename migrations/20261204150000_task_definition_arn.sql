-- Task definitions are one per ARN: the same family and revision in two regions or accounts are
-- two definitions (ECS numbers revisions per family, region and account), read by `observe --ecs`
-- from each. Definitions without an ARN (register-task-definition input files) keep '' and stay
-- one per family and revision, as before.
CREATE TABLE task_definitions_by_arn (
    family             TEXT    NOT NULL,
    revision           INTEGER NOT NULL DEFAULT 0,
    arn                TEXT    NOT NULL DEFAULT '',
    task_role_arn      TEXT,
    execution_role_arn TEXT,
    source             TEXT    NOT NULL,
    body               TEXT    NOT NULL,
    loaded_at          TEXT    NOT NULL,
    PRIMARY KEY (family, revision, arn)
);
INSERT INTO task_definitions_by_arn
    (family, revision, arn, task_role_arn, execution_role_arn, source, body, loaded_at)
SELECT family, revision, COALESCE(json_extract(body, '$.taskDefinitionArn'), ''),
       task_role_arn, execution_role_arn, source, body, loaded_at
FROM task_definitions;
DROP TABLE task_definitions;
ALTER TABLE task_definitions_by_arn RENAME TO task_definitions;
