//! The one query `observe athena://…` sends: role sessions' calls in the window, identical calls
//! folded into one row each with their count, first and last time and an example event id.
//!
//! Written for the table AWS documents for CloudTrail in Athena ("Create the table for CloudTrail
//! logs in Athena using partition projection", Athena User Guide): JSON SerDe columns in lower
//! case, `useridentity` a struct, `requestparameters` the JSON text of the event's value,
//! `resources` an array of `struct<arn, accountid, type>`, and the partition column `timestamp`
//! (`yyyy/MM/dd`, the date of the delivery path). Filtering on that column is what makes Athena
//! read only the days of the window (partition projection); the other filters are on columns.
//!
//! Each row carries exactly what [`crate::mapping::map_call`] and the fold read from an event
//! (see `Folder::memo_key`), so a row stands for its events without loss. The session name and
//! source IP address are left out of the grouping: the mapping reads neither (a service's name in
//! `sourceipaddress` is kept, as `invoked_by`, as the file decoder keeps it).
//! The user agent is grouped on: with `invoked_by` it tells the agent's calls from the
//! application's (`crate::call::caller`), as the file decoder tells them for each event.

use crate::observe::TimeWindow;

/// The result's columns, in order.
pub const COLUMNS: [&str; 16] = [
    "issuer_type",
    "role_arn",
    "issuer_account",
    "event_source",
    "event_name",
    "region",
    "recipient_account",
    "error_code",
    "invoked_by",
    "user_agent",
    "request_parameters",
    "resources",
    "events",
    "first_time",
    "last_time",
    "example_id",
];

/// What to query.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// `database.table`, each part an identifier (checked by [`identifier`]).
    pub database: &'a str,
    pub table: &'a str,
    /// Events with `since <= eventtime < until` (to the second, as files are filtered).
    pub window: &'a TimeWindow,
    /// Windows an earlier run counted already: their events are left out.
    pub counted: &'a [TimeWindow],
    /// `recipientaccountid` in these (empty: any).
    pub accounts: &'a [String],
    /// `awsregion` in these (empty: any).
    pub regions: &'a [String],
    /// The table also has the partition columns `account` and `region` (an organization
    /// trail's table, as the README creates it): the account and region filters go on them too,
    /// so Athena reads only those accounts' and regions' objects.
    pub account_region_partitions: bool,
}

/// Whether `name` can stand in the query as a quoted identifier: letters, digits, `_` and `-`
/// (Glue's database and table names), never a quote.
pub fn identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A string literal: a quote inside is doubled (account ids and regions come from the command
/// line, times from the window; none should hold one, but nothing is pasted in unquoted).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `since <= t < until` on `t`, the event time cut to the second; None when unbounded.
fn within(window: &TimeWindow, t: &str) -> Option<String> {
    let (since, until) = window.texts();
    let mut parts = Vec::new();
    if let Some(s) = since {
        parts.push(format!("{t} >= {}", literal(s)));
    }
    if let Some(u) = until {
        parts.push(format!("{t} < {}", literal(u)));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

fn one_of(column: &str, values: &[String]) -> Option<String> {
    (!values.is_empty()).then(|| {
        let list: Vec<String> = values.iter().map(|v| literal(v)).collect();
        format!("{column} IN ({})", list.join(", "))
    })
}

/// The SQL (Athena engine version 3, Trino's dialect).
pub fn build(scope: &Scope) -> String {
    const TIME: &str = "substr(eventtime, 1, 19)";
    let mut filters = vec!["useridentity.type = 'AssumedRole'".to_string()];
    // The partition: delivery dates, as a bucket walk prunes them (files come up to a day late).
    let (first_day, last_day) = scope.window.delivery_dates();
    if let Some(d) = first_day {
        let day = d.format("%Y/%m/%d").to_string();
        filters.push(format!("\"timestamp\" >= {}", literal(&day)));
    }
    if let Some(d) = last_day {
        let day = d.format("%Y/%m/%d").to_string();
        filters.push(format!("\"timestamp\" <= {}", literal(&day)));
    }
    filters.extend(within(scope.window, TIME));
    for counted in scope.counted {
        match within(counted, TIME) {
            Some(inside) => filters.push(format!("NOT ({inside})")),
            // A window without bounds covers everything: nothing is left to count.
            None => filters.push("FALSE".to_string()),
        }
    }
    filters.extend(one_of("recipientaccountid", scope.accounts));
    filters.extend(one_of("awsregion", scope.regions));
    if scope.account_region_partitions {
        filters.extend(one_of("account", scope.accounts));
        filters.extend(one_of("region", scope.regions));
    }
    format!(
        "SELECT issuer_type, role_arn, issuer_account, event_source, event_name, region, \
         recipient_account, error_code, invoked_by, user_agent, request_parameters, resources, \
         count(*) AS events, min(event_time) AS first_time, max(event_time) AS last_time, \
         min_by(event_id, event_time || event_id) AS example_id\n\
         FROM (\n  \
         SELECT useridentity.sessioncontext.sessionissuer.type AS issuer_type,\n    \
         useridentity.sessioncontext.sessionissuer.arn AS role_arn,\n    \
         useridentity.sessioncontext.sessionissuer.accountid AS issuer_account,\n    \
         eventsource AS event_source, eventname AS event_name, awsregion AS region,\n    \
         recipientaccountid AS recipient_account, errorcode AS error_code,\n    \
         CASE WHEN useridentity.invokedby IS NOT NULL THEN useridentity.invokedby\n      \
         WHEN sourceipaddress LIKE '%.amazonaws.com' THEN sourceipaddress END AS invoked_by,\n    \
         useragent AS user_agent,\n    \
         requestparameters AS request_parameters,\n    \
         json_format(CAST(transform(filter(resources, r -> r.arn IS NOT NULL), \
         r -> ARRAY[r.arn, r.type]) AS JSON)) AS resources,\n    \
         coalesce(eventtime, '') AS event_time, coalesce(eventid, '') AS event_id\n  \
         FROM \"{}\".\"{}\"\n  \
         WHERE {}\n\
         ) AS calls\n\
         GROUP BY issuer_type, role_arn, issuer_account, event_source, event_name, region, \
         recipient_account, error_code, invoked_by, user_agent, request_parameters, resources",
        scope.database,
        scope.table,
        filters.join("\n    AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn scope<'a>(
        window: &'a TimeWindow,
        counted: &'a [TimeWindow],
        accounts: &'a [String],
    ) -> Scope<'a> {
        Scope {
            database: "trails",
            table: "cloudtrail_logs_pp",
            window,
            counted,
            accounts,
            regions: &[],
            account_region_partitions: false,
        }
    }

    #[test]
    fn the_window_prunes_partitions_by_delivery_day_and_filters_event_times() {
        let w = TimeWindow::new(
            Some(at("2026-11-20T09:00:00Z")),
            Some(at("2026-11-21T10:00:00Z")),
        );
        let sql = build(&scope(&w, &[], &[]));
        // Delivered from the first day of the window to a day after its end (late delivery).
        assert!(sql.contains("\"timestamp\" >= '2026/11/20'"), "{sql}");
        assert!(sql.contains("\"timestamp\" <= '2026/11/22'"), "{sql}");
        assert!(sql.contains("substr(eventtime, 1, 19) >= '2026-11-20T09:00:00'"));
        assert!(sql.contains("substr(eventtime, 1, 19) < '2026-11-21T10:00:00'"));
        assert!(sql.contains("FROM \"trails\".\"cloudtrail_logs_pp\""));
    }

    #[test]
    fn an_open_window_reads_every_partition() {
        let w = TimeWindow::default();
        let sql = build(&scope(&w, &[], &[]));
        assert!(!sql.contains("\"timestamp\""), "{sql}");
        assert!(!sql.contains("substr(eventtime"), "{sql}");
    }

    #[test]
    fn windows_counted_before_are_left_out() {
        let w = TimeWindow::new(Some(at("2026-11-20T00:00:00Z")), None);
        let before = [
            TimeWindow::new(None, Some(at("2026-11-21T00:00:00Z"))),
            TimeWindow::default(),
        ];
        let sql = build(&scope(&w, &before, &[]));
        assert!(
            sql.contains("NOT (substr(eventtime, 1, 19) < '2026-11-21T00:00:00')"),
            "{sql}"
        );
        assert!(sql.contains("AND FALSE"), "{sql}");
    }

    #[test]
    fn accounts_are_quoted_literals() {
        let w = TimeWindow::default();
        let accounts = ["111122223333".to_string(), "o'brien".to_string()];
        let sql = build(&scope(&w, &[], &accounts));
        assert!(
            sql.contains("recipientaccountid IN ('111122223333', 'o''brien')"),
            "{sql}"
        );
    }

    #[test]
    fn an_organization_table_is_pruned_by_account_and_region_too() {
        let w = TimeWindow::default();
        let accounts = ["111122223333".to_string()];
        let regions = ["eu-west-1".to_string()];
        let mut s = scope(&w, &[], &accounts);
        s.regions = &regions;
        assert!(!build(&s).contains("account IN"), "{}", build(&s));
        s.account_region_partitions = true;
        let sql = build(&s);
        assert!(sql.contains("AND account IN ('111122223333')"), "{sql}");
        assert!(sql.contains("AND region IN ('eu-west-1')"), "{sql}");
        assert!(
            sql.contains("recipientaccountid IN ('111122223333')"),
            "{sql}"
        );
    }

    #[test]
    fn only_plain_names_are_identifiers() {
        assert!(identifier("cloudtrail_logs_pp"));
        assert!(identifier("my-db"));
        assert!(!identifier(""));
        assert!(!identifier("a\"b"));
        assert!(!identifier("a.b"));
    }
}
