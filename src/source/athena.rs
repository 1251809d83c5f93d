//! A CloudTrail table in Amazon Athena, `athena://WORKGROUP/DATABASE.TABLE`, as a folding unit
//! source: Athena scans the trail and folds identical role-session calls (`athena/query.rs`);
//! observe reads only the folded rows, a page of GetQueryResults at a time (`athena/row.rs`).
//!
//! One run is one unit, identified by the table and the `--account`/`--region` filters. It
//! covers the window asked for, with an open end closed [`LATE_DELIVERY_DAYS`] before now
//! (CloudTrail may deliver a record that late; a window recorded as counted is never queried
//! again, so it must not end before its records are all delivered). Earlier runs' windows are
//! left out of the query: a scheduled run reads only what it has not.
//!
//! The query is started with StartQueryExecution, watched with GetQueryExecution (states QUEUED,
//! RUNNING, then SUCCEEDED, FAILED or CANCELLED: Athena API Reference, `QueryExecutionStatus`)
//! and stopped with StopQueryExecution when it outlives `--athena-timeout`. GetQueryResults
//! gives a SELECT's column names as the first row of its first page, then up to 1000 rows a
//! page (`MaxResults`).

use super::{FoldRequest, FoldedRead, Listing, Unit, UnitSource};
use crate::observe::window::LATE_DELIVERY_DAYS;
use crate::observe::TimeWindow;
use aws_sdk_athena::error::ProvideErrorMetadata;
use aws_sdk_athena::types::QueryExecutionState;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub mod query;
pub mod row;

/// `athena://WORKGROUP/DATABASE.TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaTable {
    pub workgroup: String,
    pub database: String,
    pub table: String,
}

impl AthenaTable {
    /// The error says what form is expected.
    pub fn parse(url: &str) -> Result<AthenaTable, String> {
        let form = "expected athena://WORKGROUP/DATABASE.TABLE (letters, digits, _ and -)";
        let rest = url
            .strip_prefix("athena://")
            .ok_or_else(|| form.to_string())?;
        let (workgroup, name) = rest.split_once('/').ok_or_else(|| form.to_string())?;
        let (database, table) = name.split_once('.').ok_or_else(|| form.to_string())?;
        let ok = |s: &str| query::identifier(s);
        if workgroup.is_empty() || !ok(database) || !ok(table) {
            return Err(form.to_string());
        }
        Ok(AthenaTable {
            workgroup: workgroup.to_string(),
            database: database.to_string(),
            table: table.to_string(),
        })
    }
}

/// How to run the query.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Stop the query (StopQueryExecution) when it has not finished after this long.
    pub timeout: Duration,
    /// `s3://…/` for the results, when the workgroup does not set one.
    pub output: Option<String>,
    /// `recipientaccountid`, `awsregion` in these (empty: any).
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// The table has `account` and `region` partition columns (see [`query::Scope`]).
    pub account_region_partitions: bool,
}

/// A CloudTrail table in Athena, as the [`UnitSource`] of one query.
pub struct AthenaSource {
    url: String,
    settings: Settings,
    client: Option<(AthenaTable, aws_sdk_athena::Client)>,
}

impl AthenaSource {
    pub fn new(url: String, settings: Settings) -> AthenaSource {
        AthenaSource {
            url,
            settings,
            client: None,
        }
    }

    /// The unit's identity: the table and the filters (another filter is other events).
    fn checkpoint(&self, table: &AthenaTable) -> String {
        let mut accounts = self.settings.accounts.clone();
        let mut regions = self.settings.regions.clone();
        accounts.sort();
        regions.sort();
        format!(
            "athena://{}.{}?account={}&region={}",
            table.database,
            table.table,
            accounts.join(","),
            regions.join(",")
        )
    }
}

/// The window a run covers: the one asked for, an open end closed where records may still be
/// undelivered.
pub fn covered(window: &TimeWindow, now: chrono::DateTime<chrono::Utc>) -> TimeWindow {
    let (since, until) = window.texts();
    let settled = (now - chrono::Duration::days(LATE_DELIVERY_DAYS))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let until = match (until, since) {
        (Some(u), _) => u.to_string(),
        // Never before the start: an empty window, not an inverted one.
        (None, Some(s)) if s > settled.as_str() => s.to_string(),
        (None, _) => settled,
    };
    TimeWindow::from_texts(since.map(str::to_string), Some(until)).unwrap_or_default()
}

impl UnitSource for AthenaSource {
    fn list<'a>(
        &'a mut self,
        _window: &'a TimeWindow,
    ) -> Pin<Box<dyn Future<Output = Listing> + Send + 'a>> {
        Box::pin(async move {
            let table = match AthenaTable::parse(&self.url) {
                Ok(t) => t,
                Err(detail) => {
                    return Listing {
                        skipped: vec![super::Skipped {
                            unit: self.url.clone(),
                            reason: super::SkipReason::Unreadable,
                            detail,
                        }],
                        ..Listing::default()
                    }
                }
            };
            let config = crate::aws::sdk_config().await;
            let unit = Unit {
                name: self.url.clone(),
                checkpoint: Some(self.checkpoint(&table)),
                index: 0,
            };
            self.client = Some((table, aws_sdk_athena::Client::new(&config)));
            Listing {
                units: vec![unit],
                found: 1,
                ..Listing::default()
            }
        })
    }

    fn fetch(
        &self,
        _unit: &Unit,
        _into: &mut Vec<u8>,
        _runtime: &tokio::runtime::Handle,
    ) -> Result<(), String> {
        Err("an Athena table is read by its query, not fetched".to_string())
    }

    fn folds(&self) -> bool {
        true
    }

    fn read_folded(
        &self,
        _unit: &Unit,
        request: &FoldRequest,
        sink: &mut dyn FnMut(&crate::call::ApiCall<'_>, u64, &str),
        runtime: &tokio::runtime::Handle,
    ) -> Result<FoldedRead, String> {
        let Some((table, client)) = &self.client else {
            return Err("the table was not listed".to_string());
        };
        let covered = covered(request.window, chrono::Utc::now());
        let sql = query::build(&query::Scope {
            database: &table.database,
            table: &table.table,
            window: &covered,
            counted: request.counted,
            accounts: &self.settings.accounts,
            regions: &self.settings.regions,
            account_region_partitions: self.settings.account_region_partitions,
        });
        let run = Run {
            client,
            table,
            settings: &self.settings,
            stop: request.stop,
        };
        runtime.block_on(async {
            let (id, bytes_scanned) = run.execute(&sql).await?;
            let (events, not_cloudtrail) = run.read_results(&id, sink).await?;
            Ok(FoldedRead {
                events,
                not_cloudtrail,
                covered,
                bytes_scanned,
            })
        })
    }
}

/// One query's life.
struct Run<'a> {
    client: &'a aws_sdk_athena::Client,
    table: &'a AthenaTable,
    settings: &'a Settings,
    stop: &'a AtomicBool,
}

impl Run<'_> {
    /// Starts the query and waits for it: its id and the bytes it scanned, or why it did not
    /// succeed (stopped past the timeout).
    async fn execute(&self, sql: &str) -> Result<(String, u64), String> {
        let mut start = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.table.workgroup)
            .query_execution_context(
                aws_sdk_athena::types::QueryExecutionContext::builder()
                    .database(&self.table.database)
                    .build(),
            );
        if let Some(output) = &self.settings.output {
            start = start.result_configuration(
                aws_sdk_athena::types::ResultConfiguration::builder()
                    .output_location(output)
                    .build(),
            );
        }
        let started = start
            .send()
            .await
            .map_err(|e| self.failed("StartQueryExecution", e))?;
        let id = started
            .query_execution_id()
            .ok_or("StartQueryExecution returned no query id")?
            .to_string();
        let deadline = Instant::now() + self.settings.timeout;
        let mut pause = Duration::from_millis(200);
        loop {
            let got = self
                .client
                .get_query_execution()
                .query_execution_id(&id)
                .send()
                .await
                .map_err(|e| self.failed("GetQueryExecution", e))?;
            let execution = got.query_execution();
            let status = execution.and_then(|e| e.status());
            let reason = status
                .and_then(|s| s.state_change_reason())
                .unwrap_or("no reason given");
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => {
                    let scanned = execution
                        .and_then(|e| e.statistics())
                        .and_then(|s| s.data_scanned_in_bytes())
                        .unwrap_or(0);
                    return Ok((id, u64::try_from(scanned).unwrap_or(0)));
                }
                Some(QueryExecutionState::Failed) => {
                    return Err(format!(
                        "query {id} failed: {reason}; nothing was recorded (check the table \
                         against the DDL in the README)"
                    ))
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(format!(
                        "query {id} was cancelled ({reason}); nothing was recorded: run again"
                    ))
                }
                _ => {}
            }
            let interrupted = self.stop.load(Ordering::Relaxed);
            if interrupted || Instant::now() >= deadline {
                let stopped = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(&id)
                    .send()
                    .await;
                let how = match stopped {
                    Ok(_) => "stopped it (StopQueryExecution)".to_string(),
                    Err(e) => format!(
                        "could not stop it: {}",
                        self.failed("StopQueryExecution", e)
                    ),
                };
                if interrupted {
                    return Err(format!("query {id} interrupted: {how}"));
                }
                return Err(format!(
                    "query {id} was still running after --athena-timeout {}s: {how}; nothing \
                     was recorded. Raise --athena-timeout or narrow --since/--until",
                    self.settings.timeout.as_secs()
                ));
            }
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Pages through the result, handing each row's call to the sink: the events read, and
    /// those that were not CloudTrail calls.
    async fn read_results(
        &self,
        id: &str,
        sink: &mut dyn FnMut(&crate::call::ApiCall<'_>, u64, &str),
    ) -> Result<(u64, u64), String> {
        let (mut events, mut not_cloudtrail) = (0u64, 0u64);
        let mut token: Option<String> = None;
        let mut first_page = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.failed("GetQueryResults", e))?;
            let Some(set) = page.result_set() else { break };
            if self.stop.load(Ordering::Relaxed) {
                return Err(format!("query {id}: interrupted while reading its results"));
            }
            let (e, n) =
                fold_page(set, first_page, sink).map_err(|e| format!("query {id}: {e}"))?;
            events += e;
            not_cloudtrail += n;
            first_page = false;
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok((events, not_cloudtrail))
    }

    /// A failed request, worded whole with what to do.
    fn failed<E>(&self, operation: &str, e: aws_sdk_athena::error::SdkError<E>) -> String
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let wg = &self.table.workgroup;
        let (code, message) = match e.as_service_error() {
            Some(s) => (
                s.code().unwrap_or("error").to_string(),
                s.message().unwrap_or("").to_string(),
            ),
            None => (
                "no answer".to_string(),
                aws_sdk_athena::error::DisplayErrorContext(&e).to_string(),
            ),
        };
        let hint = match code.as_str() {
            "AccessDeniedException" => {
                "the credentials need the Athena, Glue and S3 permissions the README lists"
            }
            "InvalidRequestException" => {
                "check the workgroup, the database and table (README: the CloudTrail table) and \
                 the results location (--athena-output)"
            }
            "no answer" => "check the network, AWS_REGION and AWS_ENDPOINT_URL",
            _ => "see the Athena console for the query",
        };
        format!("{operation} in workgroup {wg}: {code}: {message}; {hint}")
    }
}

/// One page of the result: each row's call to the sink; the events read, and those that were
/// not CloudTrail calls. The first page starts with the column names.
fn fold_page(
    set: &aws_sdk_athena::types::ResultSet,
    first_page: bool,
    sink: &mut dyn FnMut(&crate::call::ApiCall<'_>, u64, &str),
) -> Result<(u64, u64), String> {
    let mut rows = set.rows().iter();
    if first_page {
        let names: Vec<&str> = set
            .result_set_metadata()
            .map(|m| m.column_info().iter().map(|c| c.name()).collect())
            .unwrap_or_default();
        if !names.is_empty() && names != query::COLUMNS {
            return Err(format!(
                "the result's columns are {names:?}, not those the query selects"
            ));
        }
        let header = rows.clone().next().is_some_and(|r| {
            r.data()
                .iter()
                .map(|d| d.var_char_value().unwrap_or(""))
                .eq(query::COLUMNS)
        });
        if header {
            rows.next();
        }
    }
    let (mut events, mut not_cloudtrail) = (0, 0);
    for r in rows {
        let values = r
            .data()
            .iter()
            .map(|d| d.var_char_value().map(str::to_string))
            .collect();
        let row = row::Row::parse(values)?;
        events += row.events;
        match row.folded() {
            Some(f) => sink(&f.call, f.events, f.last_time),
            None => not_cloudtrail += row.events,
        }
    }
    Ok((events, not_cloudtrail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn page(rows: &[Vec<Option<&str>>]) -> aws_sdk_athena::types::ResultSet {
        use aws_sdk_athena::types::{Datum, ResultSet, Row};
        let row = |values: &Vec<Option<&str>>| {
            Row::builder()
                .set_data(Some(
                    values
                        .iter()
                        .map(|v| {
                            Datum::builder()
                                .set_var_char_value(v.map(String::from))
                                .build()
                        })
                        .collect(),
                ))
                .build()
        };
        ResultSet::builder()
            .set_rows(Some(rows.iter().map(row).collect()))
            .build()
    }

    /// A GetQueryResults row of `s3:GetObject` calls (shape: CloudTrail User Guide, "Amazon
    /// S3 data events"), and one without an event source.
    fn get_object(events: &'static str, source: Option<&'static str>) -> Vec<Option<&'static str>> {
        vec![
            Some("Role"),
            Some("arn:aws:iam::111122223333:role/billing-worker-task"),
            Some("111122223333"),
            source,
            Some("GetObject"),
            Some("eu-west-1"),
            Some("111122223333"),
            None,
            None,
            Some("aws-sdk-java/2.25.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17"),
            Some(r#"{"bucketName":"billing-reports","key":"2026/summary/q3.json"}"#),
            Some(
                r#"[["arn:aws:s3:::billing-reports/2026/summary/q3.json","AWS::S3::Object"],["arn:aws:s3:::billing-reports","AWS::S3::Bucket"]]"#,
            ),
            Some(events),
            Some("2026-11-03T11:32:35Z"),
            Some("2026-11-03T11:40:00Z"),
            Some("ff762103-da08-4da6-9bfd-b2863de760d4"),
        ]
    }

    #[test]
    fn pages_are_folded_row_by_row_after_the_header() {
        let header: Vec<Option<&str>> = query::COLUMNS.iter().map(|c| Some(*c)).collect();
        let first = page(&[header, get_object("4", Some("s3.amazonaws.com"))]);
        let second = page(&[
            get_object("2", None),
            get_object("1", Some("s3.amazonaws.com")),
        ]);
        let mut seen = Vec::new();
        let mut sink = |c: &crate::call::ApiCall<'_>, n: u64, last: &str| {
            seen.push((
                c.event_name.to_string(),
                c.resources.len(),
                n,
                last.to_string(),
            ))
        };
        assert_eq!(fold_page(&first, true, &mut sink).unwrap(), (4, 0));
        // Later pages have no header: their first row is data.
        assert_eq!(fold_page(&second, false, &mut sink).unwrap(), (3, 2));
        let last = "2026-11-03T11:40:00Z".to_string();
        assert_eq!(
            seen,
            vec![
                ("GetObject".to_string(), 2, 4, last.clone()),
                ("GetObject".to_string(), 2, 1, last)
            ]
        );
        let damaged = page(&[get_object("many", Some("s3.amazonaws.com"))]);
        assert!(fold_page(&damaged, false, &mut |_, _, _| {})
            .unwrap_err()
            .contains("event count"));
    }

    #[test]
    fn urls_name_a_workgroup_and_a_table() {
        let t = AthenaTable::parse("athena://primary/trails.cloudtrail_logs_pp").unwrap();
        assert_eq!(
            (t.workgroup.as_str(), t.database.as_str(), t.table.as_str()),
            ("primary", "trails", "cloudtrail_logs_pp")
        );
        for bad in [
            "athena://primary",
            "athena://primary/trails",
            "athena:///trails.t",
            "athena://primary/tra\"ils.t",
            "s3://bucket/x",
        ] {
            assert!(
                AthenaTable::parse(bad)
                    .unwrap_err()
                    .contains("athena://WORKGROUP"),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_open_end_is_closed_where_records_may_still_come() {
        let now = at("2026-11-20T12:00:00Z");
        let open = covered(&TimeWindow::default(), now);
        assert_eq!(open.texts(), (None, Some("2026-11-19T12:00:00")));
        let given = TimeWindow::new(Some(at("2026-11-01T00:00:00Z")), Some(now));
        assert_eq!(covered(&given, now), given);
        let recent = TimeWindow::new(Some(at("2026-11-20T06:00:00Z")), None);
        assert_eq!(
            covered(&recent, now).texts(),
            (Some("2026-11-20T06:00:00"), Some("2026-11-20T06:00:00"))
        );
    }
}
