//! Problems that make a document unevaluable or suspicious: what the evaluator resolves
//! fail-closed, and what IAM would read differently than its author probably meant.

use super::conditions::{parse_operator, prepare, SetQ};
use super::Context;
use crate::policy::document::{Effect, PolicyDocument};
use crate::policy::pattern::{parse_pieces, Piece, VARIABLES_VERSION};

/// Problems that make a document unevaluable or suspicious for our purposes (unsupported
/// condition operator, statement with neither Action nor NotAction, etc.), as human-readable
/// strings.
pub fn lint(doc: &PolicyDocument) -> Vec<String> {
    let mut out = Vec::new();
    let vars = doc.version == VARIABLES_VERSION;
    if doc.version != VARIABLES_VERSION && doc.version != "2008-10-17" {
        out.push(format!(
            "unknown policy Version {:?}; evaluated like 2008-10-17 (policy variables are literal text)",
            doc.version
        ));
    }
    if doc.statement.is_empty() {
        out.push("document has no statements".to_string());
    }
    let empty_ctx = Context::new();
    for (i, st) in doc.statement.iter().enumerate() {
        let name = match &st.sid {
            Some(sid) => format!("statement {i} ({sid:?})"),
            None => format!("statement {i}"),
        };
        let effect = match st.effect {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        };
        let mut push = |msg: String| out.push(format!("{name}: {msg}"));

        match (&st.action, &st.not_action) {
            (None, None) => push("has neither Action nor NotAction; it matches no action".into()),
            (Some(_), Some(_)) => push(format!(
                "has both Action and NotAction (invalid in IAM); evaluated fail-closed for {effect}"
            )),
            _ => {}
        }
        for (label, list) in [("Action", &st.action), ("NotAction", &st.not_action)] {
            let Some(list) = list else { continue };
            if list.is_empty() {
                push(format!("{label} is an empty list; it matches nothing"));
            }
            for a in list {
                if a.is_empty() {
                    push(format!("{label} contains an empty string"));
                } else if a != "*" && !a.contains(':') {
                    push(format!("{label} {a:?} is not of the form service:Action"));
                }
                if a.contains("${") {
                    push(format!(
                        "{label} {a:?} contains \"${{\"; policy variables are not supported in actions"
                    ));
                }
            }
        }

        match (&st.resource, &st.not_resource) {
            (None, None) => {
                push("has neither Resource nor NotResource; it matches no resource".into())
            }
            (Some(_), Some(_)) => push(format!(
                "has both Resource and NotResource (invalid in IAM); evaluated fail-closed for {effect}"
            )),
            _ => {}
        }
        if st.effect == Effect::Allow && st.not_resource.is_some() {
            push("Allow with NotResource grants every resource not listed".into());
        }
        if st.effect == Effect::Allow && st.not_action.is_some() {
            push("Allow with NotAction grants every action not listed".into());
        }
        for (label, list) in [
            ("Resource", &st.resource),
            ("NotResource", &st.not_resource),
        ] {
            let Some(list) = list else { continue };
            if list.is_empty() {
                push(format!("{label} is an empty list; it matches nothing"));
            }
            for r in list {
                if r.is_empty() {
                    push(format!("{label} contains an empty string"));
                }
                for msg in variable_problems(r, vars, &doc.version) {
                    push(format!("{label} {r:?}: {msg}"));
                }
            }
        }

        for (op, keys) in &st.condition {
            let pop = match parse_operator(op) {
                Ok(p) => p,
                Err(msg) => {
                    push(format!(
                        "{msg}; {}",
                        match st.effect {
                            Effect::Allow => "this Allow statement never matches",
                            Effect::Deny => "this Deny statement is treated as matching",
                        }
                    ));
                    continue;
                }
            };
            if keys.is_empty() {
                push(format!("condition operator {op:?} has no keys"));
            }
            if pop.set == Some(SetQ::ForAllValues) && st.effect == Effect::Allow {
                push(format!(
                    "{op} in an Allow statement also matches requests without the key (or with no values)"
                ));
            }
            for (key, values) in keys {
                if let Err(msg) = prepare(pop.base, values, vars, &empty_ctx) {
                    push(format!(
                        "condition {op} {key:?}: {msg}; evaluated fail-closed for {effect}"
                    ));
                }
                for v in values {
                    for msg in variable_problems(v, vars, &doc.version) {
                        push(format!("condition {op} {key:?} value {v:?}: {msg}"));
                    }
                }
            }
        }
    }
    out
}

fn variable_problems(s: &str, vars: bool, version: &str) -> Vec<String> {
    if !s.contains("${") {
        return Vec::new();
    }
    if !vars {
        return vec![format!(
            "\"${{...}}\" is literal text in policy Version {version:?}, not a policy variable"
        )];
    }
    parse_pieces(s, true, true)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Bad(msg) => Some(format!("{msg}; it matches nothing")),
            _ => None,
        })
        .collect()
}
