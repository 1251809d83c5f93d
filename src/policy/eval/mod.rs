//! IAM identity-policy evaluator: the ground truth used to prove that a mined policy covers every
//! observed call and denies near misses.
//!
//! Semantics follow the IAM User Guide ("Policy evaluation logic", "IAM JSON policy elements:
//! Action / NotAction / Resource / NotResource / Condition", "Condition operators", "Policy
//! variables", "Single-valued vs. multivalued context keys"):
//!
//! * Action: case-insensitive, `*` and `?` wildcards.
//! * Resource: case-sensitive, `*` matches any run of characters (including `/` and `:`), `?`
//!   exactly one character. With `"Version": "2012-10-17"`, `${*}`, `${?}`, `${$}` are literal
//!   characters and any other `${key}` / `${key, 'default'}` is a policy variable resolved from
//!   the request context; a variable that cannot be resolved makes that string match nothing.
//!   Other versions treat `${...}` as literal text.
//! * Conditions: operators AND, keys AND, values OR; the `IfExists` suffix and the
//!   `ForAnyValue:` / `ForAllValues:` set qualifiers.
//!
//! Whatever this evaluator cannot evaluate with certainty (an unknown condition operator, a
//! malformed condition value, contradictory elements) is resolved *fail-closed*: an Allow
//! statement does not match, a Deny statement does. [`lint`] reports all such problems.
//!
//! The layout follows what the evaluator holds: this module decides requests (statements,
//! documents, [`PreparedPolicies`]); [`crate::policy::pattern`] is the Resource grammar (wildcards,
//! policy variables, escapes); `conditions` the condition operators; `values` the parsers of
//! condition values (numbers, dates, IP ranges, booleans); `lint` the problems a document has.

mod conditions;
mod lint;
#[cfg(test)]
mod tests;
mod values;

use super::document::{Effect, PolicyDocument, Statement};
use super::pattern::{
    glob_match, literal_or_wild, parse_pieces, resolve, resource_match, GlobSet, Piece,
};
use conditions::{eval_conditions, prepare_conditions, ConditionCache, Tri};

pub use super::context::Context;
pub use super::pattern::{resource_matches, wildcard_match, ResourcePattern, VARIABLES_VERSION};
pub use lint::lint;

/// One authorization request: an IAM action, the resource ARN it touches, and its context keys.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a Context,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// Identity-policy evaluation over several documents: any explicit Deny wins, else any Allow, else
/// implicit deny.
pub fn evaluate(policies: &[PolicyDocument], req: &Request) -> Decision {
    evaluate_with(policies, req, |_, _| None)
}

/// [`evaluate`], with the statements' Resource lists looked up in prepared indexes where given.
fn evaluate_with<'i>(
    policies: &[PolicyDocument],
    req: &Request,
    index: impl Fn(usize, usize) -> Option<&'i StatementIndex>,
) -> Decision {
    let mut allowed = false;
    for (pi, doc) in policies.iter().enumerate() {
        for (si, st) in doc.statement.iter().enumerate() {
            if statement_matches_indexed(doc, st, req, index(pi, si)) {
                match st.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Policies made ready for evaluating many requests (replaying every observed call of a role):
/// each statement's Resource list and condition values are parsed once, and literal entries put
/// in hash sets, so a statement granting thousands of objects (or pinning them in a KMS
/// encryption context) costs a lookup per request, not a parse of each.
pub struct PreparedPolicies<'p> {
    policies: &'p [PolicyDocument],
    /// By policy, then statement.
    indexes: Vec<Vec<StatementIndex>>,
}

/// One statement, prepared.
struct StatementIndex {
    /// Its `Resource` list, if it has one.
    resource: Option<ResourceIndex>,
    conditions: ConditionCache,
}

impl<'p> PreparedPolicies<'p> {
    pub fn new(policies: &'p [PolicyDocument]) -> Self {
        let indexes = policies
            .iter()
            .map(|doc| {
                let vars = doc.version == VARIABLES_VERSION;
                doc.statement
                    .iter()
                    .map(|st| {
                        let mut conditions = ConditionCache::new();
                        prepare_conditions(&st.condition, vars, &mut conditions);
                        StatementIndex {
                            resource: st
                                .resource
                                .as_ref()
                                .map(|pats| ResourceIndex::new(pats, vars)),
                            conditions,
                        }
                    })
                    .collect()
            })
            .collect();
        PreparedPolicies { policies, indexes }
    }

    /// The same decision as [`evaluate`] on the same policies.
    pub fn evaluate(&self, req: &Request) -> Decision {
        evaluate_with(self.policies, req, |pi, si| Some(&self.indexes[pi][si]))
    }
}

/// A Resource list, parsed: the entries without a policy variable resolved once into a
/// [`GlobSet`], those with one kept to resolve against each request's context.
struct ResourceIndex {
    fixed: GlobSet,
    variable: Vec<Vec<Piece>>,
}

impl ResourceIndex {
    fn new(patterns: &[String], vars: bool) -> Self {
        let none = Context::new();
        let mut fixed = Vec::new();
        let mut variable = Vec::new();
        for p in patterns {
            let pieces = parse_pieces(p, vars, true);
            if pieces
                .iter()
                .any(|piece| matches!(piece, Piece::Var { .. }))
            {
                variable.push(pieces);
            } else if let Some(toks) = resolve(&pieces, &none) {
                fixed.push(toks);
            } // else malformed: it matches nothing, whatever the context
        }
        ResourceIndex {
            fixed: GlobSet::new(&fixed),
            variable,
        }
    }

    /// Whether any entry matches, as `resource_match(..) == Some(true)` for one of them.
    fn any_match(&self, resource: &str, ctx: &Context) -> bool {
        if self.fixed.any_match(resource) {
            return true;
        }
        let text: Vec<char> = resource.chars().collect();
        self.variable
            .iter()
            .any(|pieces| resolve(pieces, ctx).is_some_and(|toks| glob_match(&toks, &text)))
    }
}

/// Which statements matched (for explanations): indexes (policy, statement) of matching Allow and
/// Deny statements.
pub fn matching_statements(
    policies: &[PolicyDocument],
    req: &Request,
) -> Vec<(usize, usize, Effect)> {
    let mut out = Vec::new();
    for (pi, doc) in policies.iter().enumerate() {
        for (si, st) in doc.statement.iter().enumerate() {
            if statement_matches(doc, st, req) {
                out.push((pi, si, st.effect));
            }
        }
    }
    out
}

/// Whether one statement of `doc` applies to the request (action, resource and condition all
/// match), with the fail-closed rules described in the module documentation.
pub fn statement_matches(doc: &PolicyDocument, st: &Statement, req: &Request) -> bool {
    statement_matches_indexed(doc, st, req, None)
}

/// [`statement_matches`], with the statement's Resource list and conditions prepared in `index`
/// if given.
fn statement_matches_indexed(
    doc: &PolicyDocument,
    st: &Statement,
    req: &Request,
    index: Option<&StatementIndex>,
) -> bool {
    let deny = st.effect == Effect::Deny;
    let vars = doc.version == VARIABLES_VERSION;

    let action = combine(
        deny,
        st.action
            .as_ref()
            .map(|pats| pats.iter().any(|p| action_matches(p, req.action))),
        st.not_action
            .as_ref()
            .map(|pats| !pats.iter().any(|p| action_matches(p, req.action))),
    );
    if !action {
        return false;
    }

    let resource = combine(
        deny,
        st.resource
            .as_ref()
            .map(|pats| match index.and_then(|i| i.resource.as_ref()) {
                Some(index) => index.any_match(req.resource, req.context),
                None => pats
                    .iter()
                    .any(|p| resource_match(p, req.resource, vars, req.context) == Some(true)),
            }),
        st.not_resource.as_ref().map(|pats| {
            let mut unresolved = false;
            let mut hit = false;
            for p in pats {
                match resource_match(p, req.resource, vars, req.context) {
                    Some(true) => hit = true,
                    Some(false) => {}
                    None => unresolved = true,
                }
            }
            // An unresolvable NotResource entry matches nothing, so taken literally it would make
            // the statement apply more widely; only let that happen for Deny (fail closed).
            !hit && (deny || !unresolved)
        }),
    );
    if !resource {
        return false;
    }

    match eval_conditions(
        &st.condition,
        vars,
        req.context,
        index.map(|i| &i.conditions),
    ) {
        Tri::True => true,
        Tri::False => false,
        Tri::Unknown => deny,
    }
}

/// Combine an element with its `Not` form. Neither present: matches nothing. Both present (invalid
/// in IAM): an Allow needs both to agree, a Deny needs either (fail closed).
fn combine(deny: bool, positive: Option<bool>, negative: Option<bool>) -> bool {
    match (positive, negative) {
        (None, None) => false,
        (Some(x), None) | (None, Some(x)) => x,
        (Some(x), Some(y)) => {
            if deny {
                x || y
            } else {
                x && y
            }
        }
    }
}

/// Whether an Action pattern (`s3:Get*`, `*`) matches an action; case-insensitive.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let pat = literal_or_wild(&pattern.to_lowercase(), true);
    let text: Vec<char> = action.to_lowercase().chars().collect();
    glob_match(&pat, &text)
}
