//! The conditions of a KMS grant used through a service: `kms:ViaService`, and the encryption
//! context keys by which that service names the resource it used the key for.
//!
//! A key granted to a role through SSM would otherwise decrypt every SecureString the key
//! protects; pinning `kms:EncryptionContext:PARAMETER_ARN` keeps it to the parameters observed
//! (generalized like resources). A context key is kept only when every call of the grant carried
//! it: that is what makes it stable enough to grant on.
//!
//! The one condition of another service a grant carries lives here too, so that a grant's key
//! stays one type: `iam:PassedToService` on an `iam:PassRole` (the service a launch or a new
//! function hands the role to, see `mapping/rule.rs`), whose values add up like the services.

use super::generalize;
use crate::mapping::{ENCRYPTION_CONTEXT_PREFIX, PASSED_TO_SERVICE, VIA_SERVICE};
use crate::policy::escape::escape_literal;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KmsCondition {
    /// `kms:ViaService` values.
    pub via: BTreeSet<String>,
    /// `kms:EncryptionContext:<key>` → accepted values (policy syntax: literal names escaped, so
    /// they can be matched with `StringLike` and generalized).
    pub context: BTreeMap<String, BTreeSet<String>>,
    /// `iam:PassedToService` values (an `iam:PassRole` grant; `via` and `context` then empty).
    pub passed_to: BTreeSet<String>,
}

impl KmsCondition {
    /// The condition a stored call implies; `None` for a call KMS received directly, which makes
    /// a grant unconditional.
    pub fn from_stored(condition: &str) -> Option<KmsCondition> {
        let serde_json::Value::Object(map) = serde_json::from_str(condition).ok()? else {
            return None;
        };
        if let Some(service) = map.get(PASSED_TO_SERVICE).and_then(|v| v.as_str()) {
            return Some(KmsCondition {
                via: BTreeSet::new(),
                context: BTreeMap::new(),
                passed_to: BTreeSet::from([service.to_string()]),
            });
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
            passed_to: BTreeSet::new(),
        })
    }

    /// Folds in another call of the same grant: services add up, and a context key stays only
    /// while every call carries it.
    pub fn merge(&mut self, other: &KmsCondition) {
        self.via.extend(other.via.iter().cloned());
        self.passed_to.extend(other.passed_to.iter().cloned());
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
        let mut equals = BTreeMap::new();
        for (key, values) in [
            (VIA_SERVICE, &self.via),
            (PASSED_TO_SERVICE, &self.passed_to),
        ] {
            if !values.is_empty() {
                equals.insert(key.to_string(), values.iter().cloned().collect::<Vec<_>>());
            }
        }
        let mut out = BTreeMap::from([("StringEquals".to_string(), equals)]);
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
        for (key, values) in [
            (VIA_SERVICE, &self.via),
            (PASSED_TO_SERVICE, &self.passed_to),
        ] {
            if !values.is_empty() {
                out.insert(key.to_string(), values.clone());
            }
        }
        out
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
