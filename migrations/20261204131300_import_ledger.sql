-- `import` adds to each row only what the row's count grew by since the same export stream's
-- previous imports, and never takes anything back: a file (forged, cut short, or the same one
-- again) can then neither erase evidence nor block later exports of its stream. This ledger holds
-- the largest count each stream has brought for each row, and replaces the copy of the whole
-- snapshot that `imports.body` kept to take its rows back out (emptied as each is converted).
CREATE TABLE imported_counts (
    -- xxh3-128 (hex) of the export's origin and the row's key (store/exchange.rs, `ledger_key`).
    key   TEXT    NOT NULL PRIMARY KEY,
    count INTEGER NOT NULL
) WITHOUT ROWID;
