-- A file read under --since/--until may hold events outside the window: it is then only partly
-- counted, and a later run with another window must still count the rest. `windows` lists the
-- windows already counted (JSON: [[since, until], …], null for an open end); NULL means the whole
-- file is counted, as for every file observed before this column existed.
ALTER TABLE observed_files ADD COLUMN windows TEXT;
