//! Builders and a small random generator shared by the policy module's tests.

use super::context::Context;
use super::document::{Effect, PolicyDocument, Statement};
use std::collections::BTreeMap;

pub(super) fn ctx(pairs: &[(&str, &[&str])]) -> Context {
    pairs
        .iter()
        .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(super) fn stmt(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
    Statement {
        sid: None,
        effect,
        action: Some(strings(actions)),
        not_action: None,
        resource: Some(strings(resources)),
        not_resource: None,
        condition: BTreeMap::new(),
    }
}

pub(super) fn allow(actions: &[&str], resources: &[&str]) -> Statement {
    stmt(Effect::Allow, actions, resources)
}

pub(super) fn deny(actions: &[&str], resources: &[&str]) -> Statement {
    stmt(Effect::Deny, actions, resources)
}

pub(super) fn with_cond(mut st: Statement, op: &str, key: &str, values: &[&str]) -> Statement {
    st.condition
        .entry(op.to_string())
        .or_default()
        .insert(key.to_string(), strings(values));
    st
}

/// The statement with no `Action` element.
pub(super) fn without_action(mut st: Statement) -> Statement {
    st.action = None;
    st
}

/// The statement with no `Resource` element.
pub(super) fn without_resource(mut st: Statement) -> Statement {
    st.resource = None;
    st
}

/// The statement with a `NotAction` element (its `Action` kept: see [`without_action`]).
pub(super) fn with_not_action(mut st: Statement, actions: &[&str]) -> Statement {
    st.not_action = Some(strings(actions));
    st
}

/// The statement with a `NotResource` element (its `Resource` kept: see [`without_resource`]).
pub(super) fn with_not_resource(mut st: Statement, resources: &[&str]) -> Statement {
    st.not_resource = Some(strings(resources));
    st
}

/// A document of Version 2012-10-17.
pub(super) fn doc(statements: Vec<Statement>) -> PolicyDocument {
    PolicyDocument::new(statements)
}

/// The document with another Version.
pub(super) fn version(mut d: PolicyDocument, version: &str) -> PolicyDocument {
    d.version = version.into();
    d
}

/// A linear congruential generator: reproducible random cases without a dependency.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn string(&mut self, alphabet: &[&str], max_len: usize) -> String {
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}
