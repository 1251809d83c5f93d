//! The checks a row of an export passes before it is stored. An export is text anyone may have
//! written: its rows get the checks observed evidence gets (`mapping::check_grant`, the very
//! checks a mapped call passes), counts a call can have, and times a call can have had
//! (`store::times`). Each check says what is wrong with the row; the caller names the row.

use super::ExportedEvidence;
use crate::catalog::Catalog;
use crate::mapping::Ungrantable;
use crate::role::RoleKey;
use crate::store::times::{self, Implausible};
use crate::store::{SourceCount, UngrantedRow};
use chrono::{DateTime, Utc};

/// Why a row of an export is refused, in words for the user (the caller names the row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not an evidence row ({0})")]
    NotEvidence(String),
    #[error("not a row of calls without a grant ({0})")]
    NotUngranted(String),
    #[error("role {arn:?}: {why}")]
    Role { arn: String, why: &'static str },
    #[error(transparent)]
    Grant(#[from] Ungrantable),
    #[error("count {0} is not a number of calls (at least 1)")]
    Count(i64),
    #[error("first_seen {0}")]
    FirstSeen(Implausible),
    #[error("last_seen {0}")]
    LastSeen(Implausible),
    #[error("first_seen {first} is after last_seen {last}")]
    Reversed { first: String, last: String },
    #[error("its sources count {by_sources} calls, more than the row's {count}")]
    MoreBySources { by_sources: i64, count: i64 },
    /// A live source's count that is refused: the source's name, and why.
    #[error("source {name:?}: {why}")]
    Source { name: String, why: Box<Refusal> },
    #[error("not the name of a live source (such as \"csm\")")]
    SourceName,
    #[error("kind {0:?} is neither \"unmapped\" nor \"no_permission\"")]
    Kind(String),
    #[error("condition {0:?} is not a JSON object of condition keys")]
    ConditionNotObject(String),
    #[error("condition {{}} is empty: an unconditional grant is written \"\"")]
    ConditionEmpty,
    #[error("condition key {0:?} has a value that is not text")]
    ConditionValue(String),
    #[error("condition key {key:?} is not one of {service}'s in the catalog")]
    ConditionKey { key: String, service: String },
}

/// Checks a row of evidence, and spells its action and times as the store does.
pub(super) fn evidence(
    e: &mut ExportedEvidence,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let r = &mut e.row;
    role(&r.role_arn)?;
    r.action = crate::mapping::check_grant(catalog, &r.action, &r.resource)?;
    condition(catalog, &r.action, &r.condition)?;
    count(r.count)?;
    (r.first_seen, r.last_seen) = span(&r.first_seen, &r.last_seen, now)?;
    let mut by_sources: i64 = 0;
    for s in &mut e.sources {
        source(s, now).map_err(|why| Refusal::Source {
            name: s.source.clone(),
            why: Box::new(why),
        })?;
        by_sources = by_sources.saturating_add(s.count);
    }
    if by_sources > r.count {
        return Err(Refusal::MoreBySources {
            by_sources,
            count: r.count,
        });
    }
    Ok(())
}

/// Checks a row of calls without a grant (they grant nothing, so no catalog check), and spells
/// its times as the store does.
pub(super) fn ungranted(u: &mut UngrantedRow, now: DateTime<Utc>) -> Result<(), Refusal> {
    role(&u.role_arn)?;
    if crate::mapping::UngrantedKind::parse(&u.kind).is_none() {
        return Err(Refusal::Kind(u.kind.clone()));
    }
    count(u.count)?;
    (u.first_seen, u.last_seen) = span(&u.first_seen, &u.last_seen, now)?;
    Ok(())
}

/// A live source's count of the row.
fn source(s: &mut SourceCount, now: DateTime<Utc>) -> Result<(), Refusal> {
    let name_ok = !s.source.is_empty()
        && s.source.len() <= 32
        && s.source
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(Refusal::SourceName);
    }
    count(s.count)?;
    (s.first_seen, s.last_seen) = span(&s.first_seen, &s.last_seen, now)?;
    Ok(())
}

/// Evidence is recorded under a role's ARN, as CloudTrail names it: anything else is no role.
fn role(arn: &str) -> Result<(), Refusal> {
    RoleKey::require_arn(arn)
        .map(|_| ())
        .map_err(|why| Refusal::Role {
            arn: arn.to_string(),
            why,
        })
}

/// A row stands for at least one call. (More than an i64 holds cannot even be read.)
fn count(n: i64) -> Result<(), Refusal> {
    if n < 1 {
        return Err(Refusal::Count(n));
    }
    Ok(())
}

/// The row's first and last call, as the store writes times; refused when no call can have
/// happened then, or when the first comes after the last.
fn span(first: &str, last: &str, now: DateTime<Utc>) -> Result<(String, String), Refusal> {
    let f = times::check(first, now).map_err(Refusal::FirstSeen)?;
    let l = times::check(last, now).map_err(Refusal::LastSeen)?;
    if f > l {
        return Err(Refusal::Reversed {
            first: first.to_string(),
            last: last.to_string(),
        });
    }
    Ok((times::format(f), times::format(l)))
}

/// The condition context of a grant: none, or a JSON object of the action's service's condition
/// keys with string values, as `mapping` writes it (it only ever narrows a grant, but a value
/// the store never writes has no business in it).
fn condition(catalog: &Catalog, action: &str, condition: &str) -> Result<(), Refusal> {
    if condition.is_empty() {
        return Ok(());
    }
    let Ok(serde_json::Value::Object(keys)) = serde_json::from_str::<serde_json::Value>(condition)
    else {
        return Err(Refusal::ConditionNotObject(condition.to_string()));
    };
    if keys.is_empty() {
        return Err(Refusal::ConditionEmpty);
    }
    let service = action.split(':').next().unwrap_or_default();
    for (key, value) in &keys {
        if !value.is_string() {
            return Err(Refusal::ConditionValue(key.clone()));
        }
        if !catalog.condition_key_exists(service, key) {
            return Err(Refusal::ConditionKey {
                key: key.clone(),
                service: service.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EvidenceRow;

    fn row() -> ExportedEvidence {
        ExportedEvidence {
            row: EvidenceRow {
                role_arn: "arn:aws:iam::111122223333:role/app".into(),
                action: "ssm:GetParameter".into(),
                resource: "arn:aws:ssm:eu-west-1:111122223333:parameter/app/flag".into(),
                condition: String::new(),
                error_code: String::new(),
                count: 3,
                first_seen: "2026-11-20T10:00:00Z".into(),
                last_seen: "2026-11-20T11:00:00Z".into(),
                example_event_id: "e1".into(),
                event_source: "ssm.amazonaws.com".into(),
                event_name: "GetParameter".into(),
                rule: "r".into(),
                callers: Default::default(),
            },
            sources: vec![SourceCount {
                source: "csm".into(),
                count: 2,
                first_seen: "2026-11-20T10:00:00Z".into(),
                last_seen: "2026-11-20T11:00:00Z".into(),
            }],
        }
    }

    fn checked(edit: impl FnOnce(&mut ExportedEvidence)) -> Result<ExportedEvidence, Refusal> {
        let mut e = row();
        edit(&mut e);
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        evidence(&mut e, crate::catalog::embedded(), now).map(|()| e)
    }

    #[test]
    fn a_row_observe_could_have_written_passes() {
        assert_eq!(checked(|_| {}), Ok(row()));
        let kms = checked(|e| {
            e.row.action = "kms:decrypt".into();
            e.row.resource = "*".into();
            e.row.condition = r#"{"kms:ViaService":"ssm.eu-west-1.amazonaws.com","kms:EncryptionContext:PARAMETER_ARN":"x"}"#.into();
            e.row.first_seen = "2026-11-20T11:00:00+01:00".into();
        })
        .unwrap();
        assert_eq!(kms.row.action, "kms:Decrypt");
        assert_eq!(kms.row.first_seen, "2026-11-20T10:00:00Z");
    }

    fn refused(edit: &dyn Fn(&mut ExportedEvidence), why: &str) {
        let got = checked(edit).unwrap_err().to_string();
        assert!(got.contains(why), "{got:?} does not say {why:?}");
    }

    #[test]
    fn hostile_rows_are_refused_with_the_reason() {
        refused(&|e| e.row.action = "*".into(), "not an IAM action");
        refused(&|e| e.row.action = "iam:*".into(), "not an IAM action");
        refused(
            &|e| e.row.resource = "arn:aws:ssm:eu-west-1:111122223333:parameter/*".into(),
            "wildcard",
        );
        refused(&|e| e.row.role_arn = "admin".into(), "not an IAM role ARN");
        refused(&|e| e.row.count = 0, "count 0");
        refused(&|e| e.row.count = -5, "count -5");
        refused(
            &|e| e.row.first_seen = "1970-01-01T00:00:00Z".into(),
            "before 2006",
        );
        refused(
            &|e| e.row.last_seen = "2099-01-01T00:00:00Z".into(),
            "future",
        );
        refused(
            &|e| e.row.last_seen = "2026-11-20T09:00:00Z".into(),
            "after last_seen",
        );
        refused(&|e| e.row.condition = "[1]".into(), "not a JSON object");
        refused(&|e| e.row.condition = "{}".into(), "is empty");
        refused(
            &|e| e.row.condition = r#"{"aws:made:up":"x"}"#.into(),
            "not one of",
        );
        refused(&|e| e.sources[0].count = 4, "more than the row's");
        refused(&|e| e.sources[0].count = -1, "source \"csm\": count -1");
        refused(
            &|e| e.sources[0].source = "CSM !".into(),
            "not the name of a live source",
        );
    }
}
