-- Roles passed at launch (RunTask/StartTask overrides, EventBridge ECS targets' Input), one row
-- per event and kind of role: an event read again (a file observed twice, an interrupted run
-- finished by the next) is the same row, so nothing is counted twice.
CREATE TABLE launches (
    event_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    event_time      TEXT NOT NULL,
    operation       TEXT NOT NULL,
    region          TEXT NOT NULL,
    account         TEXT NOT NULL,
    task_definition TEXT NOT NULL,
    family          TEXT NOT NULL,
    role_arn        TEXT NOT NULL,
    PRIMARY KEY (event_id, kind)
);
