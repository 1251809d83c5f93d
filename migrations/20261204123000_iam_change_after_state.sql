-- `rollback` first compares the role with what policy-miner's latest change to it left, and
-- refuses to undo what someone else changed since. What a change left: the role's inline policies
-- (documents as IAM returned them) and managed policy ARNs, read back from IAM once its last write
-- was made or failed, as JSON: {"inline": {"name": "document", …}, "managed": ["arn", …]}.
-- NULL while the change is under way, when it never finished (policy-miner was stopped between its
-- writes), when IAM could not be read, and for changes recorded before this column existed.
ALTER TABLE iam_changes ADD COLUMN after_state TEXT;
