-- Who made the calls of each piece of evidence, as far as the trail tells: a bit set of 1 (the
-- ECS or Fargate agent), 2 (the application), 4 (unknown); folded with OR, so a key keeps one
-- row. 0 for evidence observed before it was recorded, which reads as unknown. `propose` splits
-- a role used as both task and execution role on it (src/call/caller.rs says what each means).
ALTER TABLE evidence ADD COLUMN callers INTEGER NOT NULL DEFAULT 0;
