//! The request context a policy is evaluated against: what policy variables resolve to and what
//! conditions test.

use std::collections::BTreeMap;

/// The request context: condition keys (matched case-insensitively by key name) → values.
pub type Context = BTreeMap<String, Vec<String>>;

/// Values of a context key, matched case-insensitively by name. Empty means absent.
pub(super) fn lookup<'c>(ctx: &'c Context, key: &str) -> Vec<&'c str> {
    ctx.iter()
        .filter(|(k, _)| eq_ignore_case(k, key))
        .flat_map(|(_, v)| v.iter().map(String::as_str))
        .collect()
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}
