//! Every mapped call checked against AWS's own list of the actions its operation authorizes,
//! wherever the active catalog has that list (a catalog cached by `catalog update`; see
//! `catalog/operations.rs` for the data and its source).
//!
//! **What AWS publishes.** Per operation, every action it *may* authorize: the list for S3's
//! `GetObject` is `s3:GetObject`, `s3-object-lambda:GetObject`, `s3:GetObjectLegalHold`,
//! `s3:GetObjectRetention`, `s3:GetObjectTagging` and `s3:GetObjectVersion` (AWS, "Simplified AWS
//! service information for programmatic access"). Most of them are needed only when the request
//! uses an option (a `versionId`, an Object Lambda access point, Object Lock headers), and nothing
//! in the list says which; actions of another service (`kms:*` for an SSE-KMS object) are needed
//! on that service's resource (the key), which the call's evidence may not name.
//!
//! **The policy.** The project's rules decide what a call is granted, because they read the
//! request (`docs/mapping.md`, "Calls that need several actions"); the list never adds a grant, so
//! nothing is broader than the evidence. Instead, for each call whose operation AWS maps:
//! - an authorized action the call was not granted is a finding naming the operation, the action
//!   and why: [`Why::OtherService`] (another service's action, on a resource the call's evidence
//!   does not name), [`Why::DependsOnRequest`] (same service: needed only for a request option
//!   the rule did not see), or [`Why::NotInCatalog`] (the list names an action the catalog does
//!   not know);
//! - a granted action the list does not name is a finding too ([`Gap::NotListed`]): the rule and
//!   AWS disagree, and a reviewer should look.
//!
//! Where the catalog has no operation data (the embedded catalog, or a service AWS has not
//! mapped), the rules stand alone and nothing is reported.

use crate::catalog::Catalog;
use std::collections::BTreeSet;

/// Why an action the operation may authorize was not granted to the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    OtherService,
    DependsOnRequest,
    NotInCatalog,
}

impl Why {
    /// The stable code JSON carries.
    pub fn code(self) -> &'static str {
        match self {
            Why::OtherService => "other-service",
            Why::DependsOnRequest => "depends-on-request",
            Why::NotInCatalog => "not-in-catalog",
        }
    }

    /// Why, in words.
    pub fn explain(self) -> &'static str {
        match self {
            Why::OtherService => {
                "it is another service's action, needed on a resource of that service (a KMS key, \
                 an Object Lambda access point) that the calls do not name"
            }
            Why::DependsOnRequest => {
                "AWS lists it for requests that use an option (a version, tags, Object Lock, an \
                 ACL) and the calls' mapping rule saw none; grant it by hand if the calls use one"
            }
            Why::NotInCatalog => "the catalog does not know the action",
        }
    }
}

/// One difference between what a call was granted and what its operation may authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// The operation may authorize `action`; the call was not granted it.
    NotGranted { action: String, why: Why },
    /// The call was granted `action`, which AWS does not list for the operation.
    NotListed { action: String },
}

/// The operation of a call and how its grants differ from AWS's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// `prefix:Operation`, as the catalog spells it.
    pub operation: String,
    pub gaps: Vec<Gap>,
}

/// The call `event_source`/`event_name` granted `granted` (full action names), against its
/// operation's authorized actions; None when the catalog has no list for the operation.
pub fn check(
    catalog: &Catalog,
    event_source: &str,
    event_name: &str,
    granted: &BTreeSet<String>,
) -> Option<Checked> {
    let prefix = super::actions::iam_prefix(event_source);
    let name = super::actions::strip_version_suffix(event_name);
    let op = catalog.operation(&format!("{prefix}:{name}"))?;
    let authorized = op.authorized_actions();
    let is_granted = |full: &str| granted.iter().any(|g| g.eq_ignore_ascii_case(full));
    let mut gaps = Vec::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for a in &authorized {
        let full = a.full_name();
        listed.insert(full.to_ascii_lowercase());
        if is_granted(&full) {
            continue;
        }
        let (action, why) = match catalog.action(&full) {
            None => (full, Why::NotInCatalog),
            Some(found) if !found.service().eq_ignore_ascii_case(prefix) => {
                (found.full_name(), Why::OtherService)
            }
            Some(found) => (found.full_name(), Why::DependsOnRequest),
        };
        if !gaps
            .iter()
            .any(|g| matches!(g, Gap::NotGranted { action: a, .. } if *a == action))
        {
            gaps.push(Gap::NotGranted { action, why });
        }
    }
    for g in granted {
        if !listed.contains(&g.to_ascii_lowercase()) {
            gaps.push(Gap::NotListed { action: g.clone() });
        }
    }
    Some(Checked {
        operation: op.full_name(),
        gaps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{embedded, Catalog};
    use std::io::Write;

    /// The embedded catalog's shape with operations added, as `catalog update` writes them: S3's
    /// `GetObject` as AWS's documentation lists it, and an operation naming an action that does
    /// not exist.
    fn with_operations() -> Catalog {
        let doc = serde_json::json!({
            "format": 1, "source": "test", "date": "2026-12-01", "license": "test", "g": [],
            "s": [
                {"p": "s3", "n": "Amazon S3", "c": [],
                 "r": [["object", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", []]],
                 "a": [["GetObject", 0, [[0, 1]], []], ["GetObjectTagging", 0, [[0, 1]], []],
                       ["GetObjectVersion", 0, [[0, 1]], []], ["PutObject", 1, [[0, 1]], []]],
                 "o": [["GetObject", [["s3", "GetObject", []], ["s3-object-lambda", "GetObject", []],
                                      ["s3", "GetObjectTagging", []], ["s3", "GetObjectVersion", []],
                                      ["s3", "GetObjectTagging", []]]],
                       ["Frob", [["s3", "Frobnicate", []]]]]},
                {"p": "s3-object-lambda", "n": "Amazon S3 Object Lambda", "c": [], "r": [],
                 "a": [["GetObject", 0, [], []]]}
            ]
        });
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(doc.to_string().as_bytes()).unwrap();
        Catalog::from_gzip_bytes(&e.finish().unwrap()).unwrap()
    }

    fn set(actions: &[&str]) -> BTreeSet<String> {
        actions.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn unlisted_and_ungranted_actions_are_reported_never_granted() {
        let c = with_operations();
        let got = check(&c, "s3.amazonaws.com", "GetObject", &set(&["s3:GetObject"])).unwrap();
        assert_eq!(got.operation, "s3:GetObject");
        assert_eq!(
            got.gaps,
            vec![
                Gap::NotGranted {
                    action: "s3-object-lambda:GetObject".into(),
                    why: Why::OtherService
                },
                Gap::NotGranted {
                    action: "s3:GetObjectTagging".into(),
                    why: Why::DependsOnRequest
                },
                Gap::NotGranted {
                    action: "s3:GetObjectVersion".into(),
                    why: Why::DependsOnRequest
                },
            ]
        );
        // A versioned read granted GetObjectVersion: that one is no gap, and GetObject is.
        let versioned = check(
            &c,
            "s3.amazonaws.com",
            "GetObject",
            &set(&["s3:GetObjectVersion"]),
        )
        .unwrap();
        assert!(versioned.gaps.contains(&Gap::NotGranted {
            action: "s3:GetObject".into(),
            why: Why::DependsOnRequest
        }));
        let wrong = check(&c, "s3.amazonaws.com", "getobject", &set(&["s3:PutObject"])).unwrap();
        assert!(wrong.gaps.contains(&Gap::NotListed {
            action: "s3:PutObject".into()
        }));
        let frob = check(&c, "s3.amazonaws.com", "Frob", &BTreeSet::new()).unwrap();
        assert_eq!(
            frob.gaps,
            vec![Gap::NotGranted {
                action: "s3:Frobnicate".into(),
                why: Why::NotInCatalog
            }]
        );
    }

    #[test]
    fn without_operation_data_the_rules_stand_alone() {
        assert!(!embedded().has_operations());
        assert_eq!(
            check(
                embedded(),
                "s3.amazonaws.com",
                "GetObject",
                &set(&["s3:GetObject"])
            ),
            None
        );
        let c = with_operations();
        assert_eq!(
            check(&c, "s3.amazonaws.com", "PutObject", &set(&["s3:PutObject"])),
            None
        );
    }
}
