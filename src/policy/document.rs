//! IAM identity-policy documents: what synthesis writes and what the evaluator reads.
//!
//! Reading accepts every shape IAM accepts (a single statement or a list, a string or a list of
//! strings, booleans and numbers as condition values); writing always uses lists so that output is
//! uniform and diffs stay small.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

pub const POLICY_VERSION: &str = "2012-10-17";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    #[serde(rename = "Version", default = "default_version")]
    pub version: String,
    #[serde(rename = "Statement", deserialize_with = "one_or_many")]
    pub statement: Vec<Statement>,
}

fn default_version() -> String {
    // A document without Version is evaluated as 2008-10-17, where policy variables are literal.
    "2008-10-17".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// Operator (`StringEquals`) → condition key (`kms:ViaService`) → accepted values.
pub type ConditionBlock = BTreeMap<String, BTreeMap<String, Vec<String>>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(rename = "Effect")]
    pub effect: Effect,
    #[serde(
        rename = "Action",
        default,
        deserialize_with = "opt_one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub action: Option<Vec<String>>,
    #[serde(
        rename = "NotAction",
        default,
        deserialize_with = "opt_one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_action: Option<Vec<String>>,
    #[serde(
        rename = "Resource",
        default,
        deserialize_with = "opt_one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource: Option<Vec<String>>,
    #[serde(
        rename = "NotResource",
        default,
        deserialize_with = "opt_one_or_many",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_resource: Option<Vec<String>>,
    #[serde(
        rename = "Condition",
        default,
        deserialize_with = "condition_block",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub condition: ConditionBlock,
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        PolicyDocument {
            version: POLICY_VERSION.to_string(),
            statement,
        }
    }
}

impl Statement {
    pub fn allow(actions: Vec<String>, resources: Vec<String>) -> Self {
        Statement {
            sid: None,
            effect: Effect::Allow,
            action: Some(actions),
            not_action: None,
            resource: Some(resources),
            not_resource: None,
            condition: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> From<OneOrMany<T>> for Vec<T> {
    fn from(v: OneOrMany<T>) -> Self {
        match v {
            OneOrMany::One(x) => vec![x],
            OneOrMany::Many(xs) => xs,
        }
    }
}

fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    OneOrMany::<T>::deserialize(d).map(Vec::from)
}

fn opt_one_or_many<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    one_or_many(d).map(Some)
}

/// Condition values may be written as strings, booleans or numbers; IAM compares them as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    Bool(bool),
    Num(serde_json::Number),
}

impl From<Scalar> for String {
    fn from(s: Scalar) -> Self {
        match s {
            Scalar::Str(s) => s,
            Scalar::Bool(b) => b.to_string(),
            Scalar::Num(n) => n.to_string(),
        }
    }
}

fn condition_block<'de, D>(d: D) -> Result<ConditionBlock, D::Error>
where
    D: Deserializer<'de>,
{
    let raw: BTreeMap<String, BTreeMap<String, OneOrMany<Scalar>>> = BTreeMap::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(op, keys)| {
            let keys = keys
                .into_iter()
                .map(|(k, v)| (k, Vec::from(v).into_iter().map(String::from).collect()))
                .collect();
            (op, keys)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_loose_shapes_iam_accepts() {
        let doc: PolicyDocument = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
               "Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":true},
               "NumericLessThan":{"s3:max-keys":10}}}}"#,
        )
        .unwrap();
        let st = &doc.statement[0];
        assert_eq!(
            st.action.as_deref(),
            Some(&["s3:GetObject".to_string()][..])
        );
        assert_eq!(st.condition["Bool"]["aws:SecureTransport"], vec!["true"]);
        assert_eq!(st.condition["NumericLessThan"]["s3:max-keys"], vec!["10"]);
    }

    #[test]
    fn missing_version_means_the_old_grammar() {
        let doc: PolicyDocument =
            serde_json::from_str(r#"{"Statement":[{"Effect":"Deny","NotAction":"iam:*"}]}"#)
                .unwrap();
        assert_eq!(doc.version, "2008-10-17");
        assert!(doc.statement[0].action.is_none());
        assert_eq!(doc.statement[0].effect, Effect::Deny);
    }

    #[test]
    fn writes_lists_and_omits_empty_parts() {
        let doc = PolicyDocument::new(vec![Statement::allow(
            vec!["sqs:SendMessage".into()],
            vec!["arn:aws:sqs:eu-west-1:1:q".into()],
        )]);
        let text = serde_json::to_string(&doc).unwrap();
        assert_eq!(
            text,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:SendMessage"],"Resource":["arn:aws:sqs:eu-west-1:1:q"]}]}"#
        );
    }
}
