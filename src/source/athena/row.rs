//! One row of the query's result → the call it stands for, with how many events it folds.
//!
//! GetQueryResults gives every value as text (`VarCharValue`), a SQL NULL as a datum without one
//! (Athena API Reference, `Datum`). The row's call is made as the file decoder makes an event's:
//! the same principal rules, an empty error code as none, a JSON `null` as no parameters; its
//! time is the first event's and its id the example's, so the fold gives the row's events
//! exactly the evidence they would give one by one.

use super::query::COLUMNS;
use crate::call::{ApiCall, EventResource};

/// One result row, owned: pages are read one at a time and each row folded before the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    values: Vec<Option<String>>,
    /// `resources`, decoded from the JSON array of `[arn, type]` pairs.
    resources: Vec<(String, Option<String>)>,
    /// How many events the row folds.
    pub events: u64,
}

/// The call a row stands for, the last time it was seen, and how many events it folds.
pub struct Folded<'a> {
    pub call: ApiCall<'a>,
    pub last_time: &'a str,
    pub events: u64,
}

impl Row {
    /// A row in [`COLUMNS`] order; the error names what is wrong with it.
    pub fn parse(values: Vec<Option<String>>) -> Result<Row, String> {
        if values.len() != COLUMNS.len() {
            return Err(format!(
                "a result row has {} columns, the query selects {}",
                values.len(),
                COLUMNS.len()
            ));
        }
        let at = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap_or(0);
        let events = values[at("events")]
            .as_deref()
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!(
                    "a result row's event count is {:?}, not a positive number",
                    values[at("events")]
                )
            })?;
        let resources = match values[at("resources")].as_deref() {
            None => Vec::new(),
            Some(text) => {
                serde_json::from_str::<Vec<(String, Option<String>)>>(text).map_err(|e| {
                    format!("a result row's resources ({text}) are not [arn, type] pairs: {e}")
                })?
            }
        };
        Ok(Row {
            values,
            resources,
            events,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        let i = COLUMNS.iter().position(|c| *c == name)?;
        self.values.get(i)?.as_deref()
    }

    /// The call, or None for events without an event source or name (not CloudTrail events).
    pub fn folded(&self) -> Option<Folded<'_>> {
        let call = ApiCall {
            event_id: self.get("example_id").unwrap_or(""),
            event_time: self.get("first_time").unwrap_or(""),
            event_source: self.get("event_source")?,
            event_name: self.get("event_name")?,
            region: self.get("region").unwrap_or(""),
            principal: crate::source::cloudtrail::assumed_role(
                self.get("issuer_type"),
                self.get("role_arn"),
                self.get("issuer_account"),
            ),
            error_code: self.get("error_code").filter(|c| !c.is_empty()),
            invoked_by: self.get("invoked_by"),
            // The user agent is grouped on, so each row's calls share the caller the file
            // decoder would give each of them.
            caller: crate::call::Caller::of_event(self.get("invoked_by"), self.get("user_agent")),
            recipient_account: self.get("recipient_account"),
            principal_account: self.get("issuer_account"),
            request_parameters: self.get("request_parameters").filter(|p| *p != "null"),
            resources: self
                .resources
                .iter()
                .map(|(arn, kind)| EventResource {
                    arn,
                    resource_type: kind.as_deref(),
                })
                .collect(),
        };
        Some(Folded {
            call,
            last_time: self.get("last_time").unwrap_or(""),
            events: self.events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{Principal, PrincipalKind};

    /// A row as Athena returns it for three `kms:Decrypt` calls an ECS task made through
    /// Secrets Manager (the event's shape: CloudTrail User Guide, "AWS KMS log file entries").
    fn decrypt(resources: Option<&str>, issuer_arn: &str) -> Vec<Option<String>> {
        [
            Some("Role"),
            Some(issuer_arn),
            Some("111122223333"),
            Some("kms.amazonaws.com"),
            Some("Decrypt"),
            Some("eu-west-1"),
            Some("111122223333"),
            None,
            Some("secretsmanager.amazonaws.com"),
            Some("secretsmanager.amazonaws.com"),
            Some(r#"{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"SecretARN":"arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders/db-AbCdEf"}}"#),
            resources,
            Some("3"),
            Some("2026-11-20T09:00:01Z"),
            Some("2026-11-20T17:42:10Z"),
            Some("0b5a4cc2-6f1e-4e0e-9a56-3f4d2f8a0c11"),
        ]
        .into_iter()
        .map(|v| v.map(str::to_string))
        .collect()
    }

    const KEY: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_row_is_the_first_event_of_its_calls_with_their_count() {
        let resources = format!(r#"[["{KEY}","AWS::KMS::Key"]]"#);
        let row = Row::parse(decrypt(
            Some(&resources),
            "arn:aws:iam::111122223333:role/orders-task",
        ))
        .unwrap();
        let f = row.folded().unwrap();
        assert_eq!(f.events, 3);
        assert_eq!(f.last_time, "2026-11-20T17:42:10Z");
        assert_eq!(f.call.event_time, "2026-11-20T09:00:01Z");
        assert_eq!(f.call.event_id, "0b5a4cc2-6f1e-4e0e-9a56-3f4d2f8a0c11");
        assert_eq!(f.call.invoked_by, Some("secretsmanager.amazonaws.com"));
        // A service acting for the role: the trail does not say whether agent or application.
        assert_eq!(f.call.caller, crate::call::Caller::Unknown);
        assert_eq!(f.call.error_code, None);
        assert_eq!(
            f.call.principal,
            Principal::Role {
                role_arn: "arn:aws:iam::111122223333:role/orders-task",
                session: ""
            }
        );
        assert_eq!(
            f.call.resources,
            vec![EventResource {
                arn: KEY,
                resource_type: Some("AWS::KMS::Key")
            }]
        );
    }

    #[test]
    fn principals_are_judged_as_events_are() {
        let slr = "arn:aws:iam::111122223333:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS";
        let row = Row::parse(decrypt(None, slr)).unwrap();
        let f = row.folded().unwrap();
        assert_eq!(
            f.call.principal,
            Principal::Other(PrincipalKind::ServiceLinkedRole)
        );
        assert!(f.call.resources.is_empty());
    }

    #[test]
    fn damaged_rows_are_refused_with_the_reason() {
        let mut bad_count = decrypt(None, "arn:aws:iam::111122223333:role/orders-task");
        bad_count[12] = Some("0".to_string());
        assert!(Row::parse(bad_count).unwrap_err().contains("event count"));
        let bad_resources = decrypt(
            Some(r#"{"arn":"x"}"#),
            "arn:aws:iam::111122223333:role/orders-task",
        );
        assert!(Row::parse(bad_resources).unwrap_err().contains("resources"));
        assert!(Row::parse(vec![None; 3]).unwrap_err().contains("3 columns"));
    }
}
