#!/usr/bin/env python3
"""Runs the query `observe athena://…` sends on a trail's events, as Athena would run it.

Loads the CloudTrail delivery files under TRAIL (`{"Records":[…]}`, `.json` or `.json.gz`) into a
DuckDB table shaped as the table AWS documents for CloudTrail in Athena (JSON SerDe: column names
in lower case, `useridentity` a struct, `requestparameters` the JSON text of the event's value,
`resources` an array of struct<arn, accountid, type>, and the partition column `timestamp`, the
`yyyy/MM/dd` of the delivery path). The SQL (Athena's dialect, Trino's) is translated to DuckDB's
with sqlglot and executed. The rows are printed as the body of moto's
`/moto-api/static/athena/query-results` endpoint: GetQueryResults' shape, the column names as the
first row (as Athena gives them for a SELECT), a NULL as a datum without VarCharValue.

With `org`, the table is an organization trail's as the README creates it: the partition
columns `account` and `region` too, from the delivery path (`AWSLogs/o-…/<account>/CloudTrail/
<region>/…`).

Usage: run_query.py SQL_FILE TRAIL_DIR DATABASE.TABLE [org]
Needs: python3 -m pip install duckdb sqlglot
"""

import gzip
import json
import os
import re
import sys
import tempfile

try:
    import duckdb
    import sqlglot
except ImportError as e:  # the Rust test shows this line
    sys.exit(f"{e}: install with `python3 -m pip install duckdb sqlglot` (.ci/run does)")

# The part of the documented table the query reads, in DuckDB's types.
COLUMNS = {
    "useridentity": "STRUCT(type VARCHAR, principalid VARCHAR, arn VARCHAR, accountid VARCHAR, "
    "invokedby VARCHAR, sessioncontext STRUCT(sessionissuer STRUCT(type VARCHAR, "
    "principalid VARCHAR, arn VARCHAR, accountid VARCHAR, username VARCHAR)))",
    "eventtime": "VARCHAR",
    "eventsource": "VARCHAR",
    "eventname": "VARCHAR",
    "awsregion": "VARCHAR",
    "sourceipaddress": "VARCHAR",
    "useragent": "VARCHAR",
    "errorcode": "VARCHAR",
    "requestparameters": "VARCHAR",
    "eventid": "VARCHAR",
    "resources": "STRUCT(arn VARCHAR, accountid VARCHAR, type VARCHAR)[]",
    "recipientaccountid": "VARCHAR",
    "timestamp": "VARCHAR",
}

DELIVERY = re.compile(
    r"AWSLogs/(?:o-[^/]+/)?(\d+)/CloudTrail/([^/]+)/(\d{4})/(\d{2})/(\d{2})/"
)


def lower_keys(value):
    """The JSON SerDe matches struct fields to keys case-insensitively."""
    if isinstance(value, dict):
        return {k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def row_of(event, path, org):
    """One event as a row of the table (only the columns the query reads)."""
    ev = {k.lower(): v for k, v in event.items()}
    params = ev.get("requestparameters")
    row = {
        "useridentity": lower_keys(ev.get("useridentity")),
        "eventtime": ev.get("eventtime"),
        "eventsource": ev.get("eventsource"),
        "eventname": ev.get("eventname"),
        "awsregion": ev.get("awsregion"),
        "sourceipaddress": ev.get("sourceipaddress"),
        "useragent": ev.get("useragent"),
        "errorcode": ev.get("errorcode"),
        # A column of type string holds a nested value as its JSON text.
        "requestparameters": None
        if params is None
        else json.dumps(params, separators=(",", ":"), ensure_ascii=False),
        "eventid": ev.get("eventid"),
        "resources": lower_keys(ev.get("resources")),
        "recipientaccountid": ev.get("recipientaccountid"),
        "timestamp": "/".join(path.groups()[2:]),
    }
    if org:
        row["account"], row["region"] = path.group(1), path.group(2)
    return row


def load(trail, path, org):
    with open(path, "w", encoding="utf-8") as out:
        for root, _, files in os.walk(trail):
            for name in sorted(files):
                full = os.path.join(root, name)
                found = DELIVERY.search(full.replace(os.sep, "/"))
                if not found or not (name.endswith(".json") or name.endswith(".json.gz")):
                    continue
                opener = gzip.open if name.endswith(".gz") else open
                with opener(full, "rt", encoding="utf-8") as f:
                    records = json.load(f)["Records"]
                for event in records:
                    row = row_of(event, found, org)
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main():
    sql_file, trail, name = sys.argv[1:4]
    org = sys.argv[4:] == ["org"]
    database, table = name.split(".", 1)
    sql = open(sql_file, encoding="utf-8").read()
    db = duckdb.connect()
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = os.path.join(tmp, "events.ndjson")
        load(trail, rows_file, org)
        types = dict(COLUMNS, **({"account": "VARCHAR", "region": "VARCHAR"} if org else {}))
        columns = ", ".join(f"'{k}': '{v}'" for k, v in types.items())
        db.execute(f'CREATE SCHEMA "{database}"')
        db.execute(
            f'CREATE TABLE "{database}"."{table}" AS SELECT * FROM '
            f"read_json('{rows_file}', format = 'newline_delimited', columns = {{{columns}}})"
        )
    translated = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    cursor = db.execute(translated)
    names = [d[0] for d in cursor.description]
    rows = [{"Data": [{"VarCharValue": n} for n in names]}]
    for values in cursor.fetchall():
        rows.append(
            {"Data": [{} if v is None else {"VarCharValue": str(v)} for v in values]}
        )
    column_info = [
        {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n,
         "Type": "varchar", "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
         "CaseSensitive": True}
        for n in names
    ]
    json.dump({"results": [{"rows": rows, "column_info": column_info}]}, sys.stdout)


if __name__ == "__main__":
    main()
