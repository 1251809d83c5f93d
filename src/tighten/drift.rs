//! Whether a role was changed since policy-miner's latest change to it: its permissions now
//! against what that change left. `rollback` writes nothing over such changes unless forced, since
//! restoring an older state would silently undo them too.

use super::history::{self, Change, Previous};
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;

/// What a change left a role as, or may have left it as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Left {
    /// Known: read back from IAM after its last write, or (recorded before policy-miner read it
    /// back) what it meant to leave, since all its writes succeeded.
    Exactly(Previous),
    /// The change never finished, or IAM could not be read after it failed: each policy is as it
    /// was before the change, or as the change meant to leave it.
    Between { before: Previous, meant: Previous },
}

/// What `change` (one of the role's, from [`history::list`]) left the role as.
pub async fn left_by(store: &Store, change: &Change) -> Result<Left, StoreError> {
    if let Some(after) = &change.after {
        return Ok(Left::Exactly(after.clone()));
    }
    let before = history::previous(store, change.id).await?;
    let meant = match (change.kind.as_str(), change.restores) {
        ("rollback", Some(target)) => history::previous(store, target).await?,
        _ => meant_by_apply(change, &before),
    };
    Ok(if change.status == "done" {
        Left::Exactly(meant)
    } else {
        Left::Between { before, meant }
    })
}

/// What an apply meant to leave: its document written as its policy, and the inline policies it
/// was to remove and the managed ones it was to detach (listed in its summary) gone.
pub fn meant_by_apply(change: &Change, before: &Previous) -> Previous {
    let listed = |key: &str| -> Vec<String> {
        change.summary[key]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut meant = before.clone();
    for name in listed("removed_inline") {
        meant.inline.remove(&name);
    }
    let detached = listed("detached_managed");
    meant.managed.retain(|arn| !detached.contains(arn));
    if let Some(doc) = &change.new_document {
        meant.inline.insert(change.policy_name.clone(), doc.clone());
    }
    meant
}

/// How the role `now` differs from what a change `left`, one line per policy ("inline policy x was
/// added"); empty when it is as the change left it.
pub fn differences(now: &Previous, left: &Left) -> Vec<String> {
    let (one, other) = match left {
        Left::Exactly(state) => (state, state),
        Left::Between { before, meant } => (before, meant),
    };
    let mut out = Vec::new();
    let names: BTreeSet<&String> = [now, one, other]
        .into_iter()
        .flat_map(|s| s.inline.keys())
        .collect();
    for name in names {
        let is = now.inline.get(name);
        let could = [one.inline.get(name), other.inline.get(name)];
        if could.iter().any(|c| same_policy(is, *c)) {
            continue;
        }
        let what = match is {
            None => "deleted",
            Some(_) if could.iter().all(Option::is_none) => "added",
            Some(_) => "edited",
        };
        out.push(format!("inline policy {name} was {what}"));
    }
    let arns: BTreeSet<&String> = [now, one, other]
        .into_iter()
        .flat_map(|s| s.managed.iter())
        .collect();
    for arn in arns {
        let attached = now.managed.contains(arn);
        if one.managed.contains(arn) == attached || other.managed.contains(arn) == attached {
            continue;
        }
        let what = if attached { "attached" } else { "detached" };
        out.push(format!("managed policy {arn} was {what}"));
    }
    out
}

fn same_policy(a: Option<&String>, b: Option<&String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_document(a, b),
        _ => false,
    }
}

/// The same bytes, or the same JSON: what IAM hands back may be laid out otherwise than what was
/// written, and a new layout is not a change anyone made.
fn same_document(a: &str, b: &str) -> bool {
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
    a == b || matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    const NEW: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    const APP: &str = "arn:aws:iam::111122223333:policy/app";

    fn state(inline: &[(&str, &str)], managed: &[&str]) -> Previous {
        Previous {
            inline: inline
                .iter()
                .map(|(n, d)| (n.to_string(), d.to_string()))
                .collect(),
            managed: managed.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn apply(id: i64, status: &str) -> Change {
        Change {
            new_document: Some(NEW.into()),
            ..Change::example(id, "apply", status, None)
        }
    }

    #[test]
    fn a_role_as_the_change_left_it_has_no_differences_even_reformatted() {
        let left = Left::Exactly(state(&[("policy-miner", NEW)], &[]));
        let reformatted =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(NEW).unwrap())
                .unwrap();
        let now = state(&[("policy-miner", reformatted.as_str())], &[]);
        assert_eq!(differences(&now, &left), Vec::<String>::new());
    }

    #[test]
    fn policies_added_deleted_edited_attached_and_detached_since_are_each_named() {
        let left = Left::Exactly(state(&[("policy-miner", NEW), ("keep", OLD)], &[APP]));
        let now = state(
            &[("policy-miner", OLD), ("hotfix", OLD)],
            &["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        );
        assert_eq!(
            differences(&now, &left),
            vec![
                "inline policy hotfix was added",
                "inline policy keep was deleted",
                "inline policy policy-miner was edited",
                "managed policy arn:aws:iam::111122223333:policy/app was detached",
                "managed policy arn:aws:iam::aws:policy/ReadOnlyAccess was attached",
            ]
        );
    }

    #[test]
    fn an_unfinished_apply_allows_each_policy_before_or_after_but_nothing_else() {
        let before = state(&[("legacy", OLD)], &[APP]);
        let change = apply(1, "started");
        let left = Left::Between {
            meant: meant_by_apply(&change, &before),
            before,
        };
        // Stopped after writing the replacement, before removing the rest: not a change since.
        let half = state(&[("legacy", OLD), ("policy-miner", NEW)], &[APP]);
        assert!(differences(&half, &left).is_empty());
        // A policy the apply had nothing to do with is.
        let added = state(&[("legacy", OLD), ("other", OLD)], &[APP]);
        assert_eq!(
            differences(&added, &left),
            vec!["inline policy other was added"]
        );
    }
}
