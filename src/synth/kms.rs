//! The conditions of a KMS grant used through a service: `kms:ViaService`, and the encryption
//! context keys by which that service names the resource it used the key for.
//!
//! A key granted to a role through SSM would otherwise decrypt every SecureString the key
//! protects; pinning `kms:EncryptionContext:PARAMETER_ARN` keeps it to the parameters observed
//! (generalized like resources). A context key is kept only when every call of the grant carried
//! it: that is what makes it stable enough to grant on.
//!
//! The conditions of other services a grant carries live here too, so that a grant's key stays
//! one type: `iam:PassedToService` on an `iam:PassRole` (the service a launch or a new function
//! hands the role to), `ecs:cluster` on a task launch (see `mapping/rule.rs`). They are matched
//! with `StringEquals`; their values add up like the services, and a key stays only while every
//! call carries it.

use super::generalize;
use crate::mapping::{ENCRYPTION_CONTEXT_PREFIX, VIA_SERVICE};
use crate::policy::escape::escape_literal;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KmsCondition {
    /// `kms:ViaService` values.
    pub via: BTreeSet<String>,
    /// `kms:EncryptionContext:<key>` → accepted values (policy syntax: literal names escaped, so
    /// they can be matched with `StringLike` and generalized).
    pub context: BTreeMap<String, BTreeSet<String>>,
    /// Keys of other services (`iam:PassedToService`, `ecs:cluster`) → accepted values; `via`
    /// and `context` are then empty.
    pub equals: BTreeMap<String, BTreeSet<String>>,
}

impl KmsCondition {
    /// The condition a stored call implies; `None` for a call KMS received directly, which makes
    /// a grant unconditional.
    pub fn from_stored(condition: &str) -> Option<KmsCondition> {
        let serde_json::Value::Object(map) = serde_json::from_str(condition).ok()? else {
            return None;
        };
        if !map.contains_key(VIA_SERVICE) {
            // A KMS key without `kms:ViaService` is a direct call: unconditional.
            let equals: BTreeMap<String, BTreeSet<String>> = map
                .iter()
                .filter(|(k, _)| !k.starts_with("kms:"))
                .filter_map(|(k, v)| Some((k.clone(), BTreeSet::from([v.as_str()?.to_string()]))))
                .collect();
            return (!equals.is_empty()).then(|| KmsCondition::equals(equals));
        }
        let via = map.get(VIA_SERVICE)?.as_str()?.to_string();
        let context = map
            .iter()
            .filter(|(k, _)| k.starts_with(ENCRYPTION_CONTEXT_PREFIX))
            .filter_map(|(k, v)| Some((k.clone(), BTreeSet::from([escape_literal(v.as_str()?)]))))
            .collect();
        Some(KmsCondition {
            via: BTreeSet::from([via]),
            context,
            equals: BTreeMap::new(),
        })
    }

    /// A condition of other services' keys only.
    pub fn equals(equals: BTreeMap<String, BTreeSet<String>>) -> KmsCondition {
        KmsCondition {
            via: BTreeSet::new(),
            context: BTreeMap::new(),
            equals,
        }
    }

    /// Folds in another call of the same grant: services add up, and a context key stays only
    /// while every call carries it.
    pub fn merge(&mut self, other: &KmsCondition) {
        self.via.extend(other.via.iter().cloned());
        self.equals.retain(|k, _| other.equals.contains_key(k));
        for (k, values) in &mut self.equals {
            values.extend(other.equals[k].iter().cloned());
        }
        self.context.retain(|k, _| other.context.contains_key(k));
        for (k, values) in &mut self.context {
            values.extend(other.context[k].iter().cloned());
        }
    }

    /// Many observed parameters or objects under one path become a prefix, by the same rule as
    /// resources.
    pub fn generalized(mut self, threshold: usize) -> KmsCondition {
        for values in self.context.values_mut() {
            let g = generalize::generalize(values, threshold, &BTreeSet::new());
            *values = generalize::drop_covered(g.resources);
        }
        self
    }

    /// Adds values a task definition implies for a context key the grant already pins.
    pub fn extend_context(&mut self, key: &str, values: impl IntoIterator<Item = String>) {
        if let Some(set) = self.context.get_mut(key) {
            set.extend(values);
            *set = generalize::drop_covered(std::mem::take(set));
        }
    }

    /// The statement's `Condition` block: operator → key → values.
    pub fn policy_condition(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (key, values) in &self.equals {
            out.entry(exact_operator(key).to_string())
                .or_default()
                .insert(key.clone(), values.iter().cloned().collect());
        }
        if !self.via.is_empty() {
            out.entry("StringEquals".to_string())
                .or_default()
                .insert(VIA_SERVICE.to_string(), self.via.iter().cloned().collect());
        }
        if !self.context.is_empty() {
            out.insert(
                "StringLike".to_string(),
                self.context
                    .iter()
                    .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                    .collect(),
            );
        }
        out
    }

    /// Every key with its values, for the grant's evidence.
    pub fn as_evidence(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = self.context.clone();
        out.extend(self.equals.clone());
        if !self.via.is_empty() {
            out.insert(VIA_SERVICE.to_string(), self.via.clone());
        }
        out
    }
}

/// The exact-match operator for a condition key: `ArnEquals` for the keys the catalog types as
/// ARNs (`ecs:cluster`, `elasticfilesystem:AccessPointArn`), as IAM's policy grammar asks for an
/// ARN key, else `StringEquals`.
fn exact_operator(key: &str) -> &'static str {
    let service = key.split(':').next().unwrap_or_default();
    match crate::catalog::active().condition_key_type(service, key) {
        Some(t) if t.eq_ignore_ascii_case("ARN") => "ArnEquals",
        _ => "StringEquals",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAM: &str = "kms:EncryptionContext:PARAMETER_ARN";

    fn ssm(param: &str) -> KmsCondition {
        KmsCondition::from_stored(
            &serde_json::json!({
                "kms:ViaService": "ssm.eu-west-1.amazonaws.com",
                PARAM: format!("arn:aws:ssm:eu-west-1:1:parameter{param}"),
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn other_services_keys_are_matched_exactly_and_kept_while_every_call_has_them() {
        let launch = |cluster: &str| {
            KmsCondition::from_stored(
                &serde_json::json!({"ecs:cluster": format!("arn:aws:ecs:eu-west-1:1:cluster/{cluster}")})
                    .to_string(),
            )
            .unwrap()
        };
        let mut c = launch("batch");
        c.merge(&launch("nightly"));
        let block = c.policy_condition();
        // ecs:cluster is an ARN (Service Authorization Reference, Amazon ECS).
        assert_eq!(
            block["ArnEquals"]["ecs:cluster"],
            [
                "arn:aws:ecs:eu-west-1:1:cluster/batch",
                "arn:aws:ecs:eu-west-1:1:cluster/nightly"
            ]
        );
        assert_eq!(block.len(), 1, "{block:?}");
        // A call without the key makes the key go: never narrower than a call made.
        let mut without = KmsCondition::from_stored(r#"{"iam:PassedToService":"x"}"#).unwrap();
        without.merge(&launch("batch"));
        assert!(without.equals.is_empty());
        assert!(
            without.policy_condition().is_empty(),
            "no empty operator block"
        );
    }

    #[test]
    fn a_direct_call_has_no_condition() {
        assert_eq!(KmsCondition::from_stored(""), None);
        assert_eq!(
            KmsCondition::from_stored(r#"{"kms:EncryptionContext:purpose":"x"}"#),
            None
        );
    }

    #[test]
    fn context_keys_every_call_carried_are_kept_and_their_values_generalized() {
        let mut c = ssm("/svc/prod/a");
        for p in ["/svc/prod/b", "/svc/prod/c"] {
            c.merge(&ssm(p));
        }
        let c = c.generalized(3);
        assert_eq!(
            c.context[PARAM],
            BTreeSet::from(["arn:aws:ssm:eu-west-1:1:parameter/svc/prod/*".to_string()])
        );
        let block = c.policy_condition();
        assert_eq!(
            block["StringEquals"][VIA_SERVICE],
            ["ssm.eu-west-1.amazonaws.com"]
        );
        assert_eq!(block["StringLike"][PARAM].len(), 1);
    }

    #[test]
    fn a_key_missing_from_one_call_is_dropped() {
        let mut c = ssm("/a");
        let bare = KmsCondition::from_stored(
            r#"{"kms:ViaService":"secretsmanager.eu-west-1.amazonaws.com"}"#,
        )
        .unwrap();
        c.merge(&bare);
        assert!(c.context.is_empty());
        assert_eq!(c.via.len(), 2);
        assert!(!c.policy_condition().contains_key("StringLike"));
    }

    #[test]
    fn values_are_escaped_so_a_name_cannot_widen_the_condition() {
        let c = ssm("/odd*name");
        assert_eq!(
            c.context[PARAM],
            BTreeSet::from(["arn:aws:ssm:eu-west-1:1:parameter/odd${*}name".to_string()])
        );
    }
}
