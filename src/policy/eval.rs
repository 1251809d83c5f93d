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

use super::document::{Effect, PolicyDocument, Statement};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The request context: condition keys (matched case-insensitively by key name) → values.
pub type Context = BTreeMap<String, Vec<String>>;

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

/// The only policy grammar version in which policy variables (and their escapes) are recognised.
pub const VARIABLES_VERSION: &str = "2012-10-17";

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

/// Whether a Resource pattern matches a resource ARN, with policy variables resolved from
/// `context` when `version` is 2012-10-17. Case-sensitive.
pub fn resource_matches(pattern: &str, resource: &str, version: &str, context: &Context) -> bool {
    resource_match(pattern, resource, version == VARIABLES_VERSION, context) == Some(true)
}

/// Plain wildcard matching (`*` any run, `?` one character), case-sensitive, no policy variables.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pat = literal_or_wild(pattern, true);
    let text: Vec<char> = text.chars().collect();
    glob_match(&pat, &text)
}

/// A Resource pattern parsed and resolved once, to be matched against many resources: what
/// [`resource_matches`] does per call, for callers that compare sets of resources.
#[derive(Debug, Clone)]
pub struct ResourcePattern {
    /// None when a policy variable in it cannot be resolved: it then matches nothing.
    toks: Option<Vec<Tok>>,
}

impl ResourcePattern {
    pub fn new(pattern: &str, version: &str, context: &Context) -> Self {
        let vars = version == VARIABLES_VERSION;
        ResourcePattern {
            toks: resolve(&parse_pieces(pattern, vars, true), context),
        }
    }

    /// Whether the pattern matches `resource` (its characters, as [`ResourcePattern::chars`]
    /// gives them: a set of resources is split once, not once per pattern).
    pub fn matches_chars(&self, resource: &[char]) -> bool {
        self.toks.as_ref().is_some_and(|t| glob_match(t, resource))
    }

    /// The text every resource it matches starts with (None when it matches nothing).
    pub fn literal_prefix(&self) -> Option<String> {
        self.toks.as_deref().map(leading_literal)
    }

    pub fn chars(resource: &str) -> Vec<char> {
        resource.chars().collect()
    }
}

/// `None` when the pattern contains a policy variable that cannot be resolved.
fn resource_match(pattern: &str, resource: &str, vars: bool, ctx: &Context) -> Option<bool> {
    let toks = resolve(&parse_pieces(pattern, vars, true), ctx)?;
    let text: Vec<char> = resource.chars().collect();
    Some(glob_match(&toks, &text))
}

// ---------------------------------------------------------------------------------------------
// Wildcards and policy variables
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Greedy two-pointer wildcard matcher with single-star backtracking: O(|pattern|·|text|) worst
/// case, linear in the common cases, never exponential.
fn glob_match(pat: &[Tok], text: &[char]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Position just after the most recent star, and the text position it is currently absorbing to.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(Tok::Star) => {
                p += 1;
                backtrack = Some((p, t));
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((bp, bt)) => {
                // Let the last star absorb one more character and retry from there.
                p = bp;
                t = bt + 1;
                backtrack = Some((bp, bt + 1));
            }
            None => return false,
        }
    }
    pat[p.min(pat.len())..].iter().all(|t| *t == Tok::Star)
}

fn literal_or_wild(s: &str, wildcards: bool) -> Vec<Tok> {
    s.chars()
        .map(|c| match c {
            '*' if wildcards => Tok::Star,
            '?' if wildcards => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// A parsed piece of a policy string, before the context is known.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Tok(Tok),
    Var {
        key: String,
        default: Option<String>,
    },
    /// Malformed variable syntax (`${`, `${}`, `${a b}`, `${k, noquotes}`): resolves to nothing.
    Bad(String),
}

/// Parse a policy string. `vars`: recognise `${...}` (Version 2012-10-17 only). `wildcards`: `*`
/// and `?` are wildcards (Resource, StringLike, ArnLike) rather than literal characters.
fn parse_pieces(s: &str, vars: bool, wildcards: bool) -> Vec<Piece> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if vars && c == '$' && chars.get(i + 1) == Some(&'{') {
            match find_close(&chars, i + 2) {
                Some(close) => {
                    let inner: String = chars[i + 2..close].iter().collect();
                    out.push(parse_variable(&inner));
                    i = close + 1;
                }
                None => {
                    let rest: String = chars[i..].iter().collect();
                    out.push(Piece::Bad(format!("unterminated policy variable {rest:?}")));
                    i = chars.len();
                }
            }
            continue;
        }
        out.push(Piece::Tok(match c {
            '*' if wildcards => Tok::Star,
            '?' if wildcards => Tok::One,
            c => Tok::Lit(c),
        }));
        i += 1;
    }
    out
}

/// Index of the `}` closing a variable whose body starts at `from`, skipping quoted defaults.
fn find_close(chars: &[char], from: usize) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in chars.iter().enumerate().skip(from) {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_variable(inner: &str) -> Piece {
    match inner {
        "*" => return Piece::Tok(Tok::Lit('*')),
        "?" => return Piece::Tok(Tok::Lit('?')),
        "$" => return Piece::Tok(Tok::Lit('$')),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => (k.trim(), Some(d.trim())),
        None => (inner.trim(), None),
    };
    let bad = |why: &str| Piece::Bad(format!("malformed policy variable ${{{inner}}}: {why}"));
    if key.is_empty() {
        return bad("empty key name");
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '\'' | '{' | '$' | ','))
    {
        return bad("invalid character in key name");
    }
    let default = match default {
        None => None,
        Some(d) => {
            let chars: Vec<char> = d.chars().collect();
            if chars.len() < 2 || chars[0] != '\'' || chars[chars.len() - 1] != '\'' {
                return bad("default value must be in single quotes");
            }
            // Inside the quotes, '' stands for one quote; a lone quote is malformed.
            let body = &chars[1..chars.len() - 1];
            let mut value = String::new();
            let mut j = 0;
            while j < body.len() {
                if body[j] == '\'' {
                    if body.get(j + 1) == Some(&'\'') {
                        value.push('\'');
                        j += 2;
                        continue;
                    }
                    return bad("unescaped quote in default value");
                }
                value.push(body[j]);
                j += 1;
            }
            Some(value)
        }
    };
    Piece::Var {
        key: key.to_string(),
        default,
    }
}

/// Resolve variables against the context. A substituted value is literal text (its `*` and `?`
/// are not wildcards). `None` when a variable has no single value and no default.
fn resolve(pieces: &[Piece], ctx: &Context) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match piece {
            Piece::Tok(t) => out.push(*t),
            Piece::Var { key, default } => {
                let values = lookup(ctx, key);
                // Multivalued keys cannot be used as policy variables.
                let value = if values.len() == 1 {
                    values[0]
                } else {
                    default.as_deref()?
                };
                out.extend(value.chars().map(Tok::Lit));
            }
            Piece::Bad(_) => return None,
        }
    }
    Some(out)
}

fn toks_to_string(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(c) => *c,
            Tok::Star => '*',
            Tok::One => '?',
        })
        .collect()
}

/// Values of a context key, matched case-insensitively by name. Empty means absent.
fn lookup<'c>(ctx: &'c Context, key: &str) -> Vec<&'c str> {
    ctx.iter()
        .filter(|(k, _)| eq_ignore_case(k, key))
        .flat_map(|(_, v)| v.iter().map(String::as_str))
        .collect()
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

// ---------------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------------

/// Three-valued outcome: `Unknown` means "cannot be evaluated" and is resolved fail-closed by the
/// statement's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown,
}

/// AND: any False wins, then any Unknown, else True.
fn and_all(items: impl Iterator<Item = Tri>) -> Tri {
    let mut acc = Tri::True;
    for t in items {
        match t {
            Tri::False => return Tri::False,
            Tri::Unknown => acc = Tri::Unknown,
            Tri::True => {}
        }
    }
    acc
}

fn eval_conditions(
    block: &super::document::ConditionBlock,
    vars: bool,
    ctx: &Context,
    cache: Option<&ConditionCache>,
) -> Tri {
    and_all(block.iter().map(|(op, keys)| match parse_operator(op) {
        Err(_) => Tri::Unknown,
        Ok(pop) => and_all(keys.iter().map(|(key, values)| {
            let cached = cache.and_then(|c| c.get(&(values.as_ptr() as usize)));
            eval_key(&pop, key, values, vars, ctx, cached)
        })),
    }))
}

/// Condition values prepared once, for the value lists whose preparation does not depend on the
/// request (no policy variable in them): by the address of the list in the borrowed policies.
type ConditionCache = std::collections::HashMap<usize, Result<(Prepared, bool), String>>;

/// The cache entries for one statement's condition block.
fn prepare_conditions(
    block: &super::document::ConditionBlock,
    vars: bool,
    cache: &mut ConditionCache,
) {
    let none = Context::new();
    for (op, keys) in block {
        let Ok(pop) = parse_operator(op) else {
            continue;
        };
        for values in keys.values() {
            if !vars || !values.iter().any(|v| v.contains("${")) {
                let prepared = prepare(pop.base, values, vars, &none);
                cache.insert(values.as_ptr() as usize, prepared);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQ {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, ctx: T, policy: T) -> bool {
        match self {
            Cmp::Eq => ctx == policy,
            Cmp::Lt => ctx < policy,
            Cmp::Le => ctx <= policy,
            Cmp::Gt => ctx > policy,
            Cmp::Ge => ctx >= policy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    /// ArnEquals and ArnLike are the same operator in IAM (both take per-segment wildcards).
    Arn,
    Numeric(Cmp),
    Date(Cmp),
    Bool,
    Ip,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    set: Option<SetQ>,
    base: Base,
    negated: bool,
    if_exists: bool,
}

fn parse_operator(op: &str) -> Result<Operator, String> {
    let (set, rest) = if let Some(r) = op.strip_prefix("ForAnyValue:") {
        (Some(SetQ::ForAnyValue), r)
    } else if let Some(r) = op.strip_prefix("ForAllValues:") {
        (Some(SetQ::ForAllValues), r)
    } else {
        (None, op)
    };
    let (name, if_exists) = match rest.strip_suffix("IfExists") {
        Some(n) => (n, true),
        None => (rest, false),
    };
    let (base, negated) = match name {
        "StringEquals" => (Base::StringEquals, false),
        "StringNotEquals" => (Base::StringEquals, true),
        "StringEqualsIgnoreCase" => (Base::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Base::StringEqualsIgnoreCase, true),
        "StringLike" => (Base::StringLike, false),
        "StringNotLike" => (Base::StringLike, true),
        "ArnEquals" | "ArnLike" => (Base::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Base::Arn, true),
        "NumericEquals" => (Base::Numeric(Cmp::Eq), false),
        "NumericNotEquals" => (Base::Numeric(Cmp::Eq), true),
        "NumericLessThan" => (Base::Numeric(Cmp::Lt), false),
        "NumericLessThanEquals" => (Base::Numeric(Cmp::Le), false),
        "NumericGreaterThan" => (Base::Numeric(Cmp::Gt), false),
        "NumericGreaterThanEquals" => (Base::Numeric(Cmp::Ge), false),
        "DateEquals" => (Base::Date(Cmp::Eq), false),
        "DateNotEquals" => (Base::Date(Cmp::Eq), true),
        "DateLessThan" => (Base::Date(Cmp::Lt), false),
        "DateLessThanEquals" => (Base::Date(Cmp::Le), false),
        "DateGreaterThan" => (Base::Date(Cmp::Gt), false),
        "DateGreaterThanEquals" => (Base::Date(Cmp::Ge), false),
        "Bool" => (Base::Bool, false),
        "IpAddress" => (Base::Ip, false),
        "NotIpAddress" => (Base::Ip, true),
        "Null" => (Base::Null, false),
        _ => return Err(format!("unsupported condition operator {op:?}")),
    };
    if base == Base::Null && (if_exists || set.is_some()) {
        return Err(format!(
            "condition operator {op:?}: Null takes neither IfExists nor a set qualifier"
        ));
    }
    Ok(Operator {
        set,
        base,
        negated,
        if_exists,
    })
}

/// Policy-side values of one condition key, resolved and parsed for the operator.
enum Prepared {
    Str(Vec<String>),
    StrLower(Vec<String>),
    Glob(GlobSet),
    Arn(Vec<Vec<Vec<Tok>>>),
    Numeric(Cmp, Vec<f64>),
    Date(Cmp, Vec<i128>),
    Ip(Vec<Cidr>),
    Bool(Vec<bool>),
}

/// Resolve and parse the policy values. `Err` (malformed: unparsable value for the operator type,
/// or no values at all) makes the key Unknown. The flag says whether some value had a policy
/// variable that could not be resolved (that value then matches nothing).
fn prepare(
    base: Base,
    values: &[String],
    vars: bool,
    ctx: &Context,
) -> Result<(Prepared, bool), String> {
    if values.is_empty() {
        return Err("no values".into());
    }
    let wild = matches!(base, Base::StringLike | Base::Arn);
    let mut unresolved = false;
    let mut resolved: Vec<Vec<Tok>> = Vec::with_capacity(values.len());
    for v in values {
        match resolve(&parse_pieces(v, vars, wild), ctx) {
            Some(t) => resolved.push(t),
            None => unresolved = true,
        }
    }
    let strings = || resolved.iter().map(|t| toks_to_string(t));
    let prepared = match base {
        Base::StringEquals => Prepared::Str(strings().collect()),
        Base::StringEqualsIgnoreCase => {
            Prepared::StrLower(strings().map(|s| s.to_lowercase()).collect())
        }
        Base::StringLike => Prepared::Glob(GlobSet::new(&resolved)),
        Base::Arn => {
            let mut arns = Vec::with_capacity(resolved.len());
            for toks in &resolved {
                let parts = split_arn_toks(toks);
                if parts.len() != 6 {
                    return Err(format!(
                        "{:?} is not an ARN pattern (ARN operators compare six colon-separated parts)",
                        toks_to_string(toks)
                    ));
                }
                arns.push(parts);
            }
            Prepared::Arn(arns)
        }
        Base::Numeric(cmp) => {
            let mut nums = Vec::new();
            for s in strings() {
                nums.push(parse_number(&s).ok_or_else(|| format!("{s:?} is not a number"))?);
            }
            Prepared::Numeric(cmp, nums)
        }
        Base::Date(cmp) => {
            let mut dates = Vec::new();
            for s in strings() {
                dates.push(
                    parse_date(&s)
                        .ok_or_else(|| format!("{s:?} is not an ISO 8601 date or epoch time"))?,
                );
            }
            Prepared::Date(cmp, dates)
        }
        Base::Ip => {
            let mut nets = Vec::new();
            for s in strings() {
                nets.push(
                    parse_cidr(&s).ok_or_else(|| format!("{s:?} is not an IP address or CIDR"))?,
                );
            }
            Prepared::Ip(nets)
        }
        Base::Bool | Base::Null => {
            let mut bools = Vec::new();
            for s in strings() {
                bools.push(parse_bool(&s).ok_or_else(|| format!("{s:?} is not true or false"))?);
            }
            Prepared::Bool(bools)
        }
    };
    Ok((prepared, unresolved))
}

/// StringLike values: the literal ones by their text, the others with the literal text every
/// match starts with (a KMS grant may pin thousands of object ARNs in its context).
#[derive(Debug, Clone)]
struct GlobSet {
    literal: std::collections::HashSet<String>,
    patterns: Vec<(String, Vec<Tok>)>,
}

/// The literal characters a token sequence starts with: every text it matches starts with them.
fn leading_literal(toks: &[Tok]) -> String {
    toks.iter()
        .map_while(|t| match t {
            Tok::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

impl GlobSet {
    fn new(resolved: &[Vec<Tok>]) -> Self {
        let mut set = GlobSet {
            literal: Default::default(),
            patterns: Vec::new(),
        };
        for toks in resolved {
            let prefix = leading_literal(toks);
            if prefix.chars().count() == toks.len() {
                set.literal.insert(prefix);
            } else {
                set.patterns.push((prefix, toks.clone()));
            }
        }
        set
    }

    fn any_match(&self, cv: &str) -> bool {
        if self.literal.contains(cv) {
            return true;
        }
        let mut text: Option<Vec<char>> = None;
        self.patterns.iter().any(|(prefix, toks)| {
            cv.starts_with(prefix.as_str())
                && glob_match(toks, text.get_or_insert_with(|| cv.chars().collect()))
        })
    }
}

impl Prepared {
    /// Whether one context value matches any of the policy values (the positive operator).
    fn any_match(&self, cv: &str) -> bool {
        match self {
            Prepared::Str(vs) => vs.iter().any(|v| v == cv),
            Prepared::StrLower(vs) => {
                let cv = cv.to_lowercase();
                vs.contains(&cv)
            }
            Prepared::Glob(set) => set.any_match(cv),
            Prepared::Arn(pats) => {
                let parts: Vec<Vec<char>> =
                    cv.splitn(6, ':').map(|s| s.chars().collect()).collect();
                if parts.len() != 6 {
                    return false;
                }
                pats.iter()
                    .any(|p| p.iter().zip(&parts).all(|(pp, tp)| glob_match(pp, tp)))
            }
            Prepared::Numeric(cmp, vs) => match parse_number(cv) {
                Some(n) => vs.iter().any(|v| cmp.holds(n, *v)),
                None => false,
            },
            Prepared::Date(cmp, vs) => match parse_date(cv) {
                Some(d) => vs.iter().any(|v| cmp.holds(d, *v)),
                None => false,
            },
            Prepared::Ip(nets) => match cv.parse::<IpAddr>() {
                Ok(ip) => nets.iter().any(|n| n.contains(ip)),
                Err(_) => false,
            },
            Prepared::Bool(vs) => match parse_bool(cv) {
                Some(b) => vs.contains(&b),
                None => false,
            },
        }
    }
}

/// Split ARN pattern tokens on `:` into at most six parts (the last keeps any further colons).
fn split_arn_toks(toks: &[Tok]) -> Vec<Vec<Tok>> {
    let mut parts: Vec<Vec<Tok>> = vec![Vec::new()];
    for t in toks {
        if *t == Tok::Lit(':') && parts.len() < 6 {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*t);
        }
    }
    parts
}

fn eval_key(
    op: &Operator,
    key: &str,
    values: &[String],
    vars: bool,
    ctx: &Context,
    cached: Option<&Result<(Prepared, bool), String>>,
) -> Tri {
    let present = lookup(ctx, key);
    let fresh;
    let (prepared, unresolved) = match cached {
        Some(Ok((p, u))) => (p, *u),
        Some(Err(_)) => return Tri::Unknown,
        None => match prepare(op.base, values, vars, ctx) {
            Ok(p) => {
                fresh = p;
                (&fresh.0, fresh.1)
            }
            Err(_) => return Tri::Unknown,
        },
    };
    if op.base == Base::Null {
        // "true": the key must be absent; "false": it must be present.
        let Prepared::Bool(wanted) = prepared else {
            return Tri::Unknown;
        };
        let absent = present.is_empty();
        return tri(wanted.contains(&absent));
    }
    if op.negated && unresolved {
        // A negated operator over a value that resolves to nothing would match more; fail closed.
        return Tri::Unknown;
    }
    if present.is_empty() {
        return tri(match op.set {
            Some(SetQ::ForAllValues) => true,
            Some(SetQ::ForAnyValue) => op.if_exists,
            None => op.if_exists || op.negated,
        });
    }
    let value_matches = |cv: &&str| prepared.any_match(cv) != op.negated;
    tri(match op.set {
        Some(SetQ::ForAnyValue) => present.iter().any(value_matches),
        Some(SetQ::ForAllValues) => present.iter().all(value_matches),
        // A plain positive operator matches if any context value matches; a negated one is the
        // negation of its positive form, so every context value must avoid every policy value.
        None if op.negated => present.iter().all(value_matches),
        None => present.iter().any(value_matches),
    })
}

fn tri(b: bool) -> Tri {
    if b {
        Tri::True
    } else {
        Tri::False
    }
}

// ---------------------------------------------------------------------------------------------
// Value parsing: numbers, booleans, dates, IP ranges
// ---------------------------------------------------------------------------------------------

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        || !s.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Parse an IAM date: epoch seconds (`1700000000`, optionally with a fraction) or ISO 8601
/// (`2020-01-01`, `2020-01-01T12:00Z`, `2020-01-01T12:00:00.123+02:00`, no zone = UTC). Returns
/// nanoseconds since the Unix epoch.
fn parse_date(s: &str) -> Option<i128> {
    if !s.is_ascii() || s.is_empty() {
        return None;
    }
    if let Some(n) = parse_epoch(s) {
        return Some(n);
    }
    let b = s.as_bytes();
    let mut cur = Cursor { b, i: 0 };
    let year = cur.digits(4)?;
    cur.expect(b'-')?;
    let month = cur.digits(2)?;
    cur.expect(b'-')?;
    let day = cur.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut secs: i128 = 0;
    let mut nanos: i128 = 0;
    let mut offset: i128 = 0;
    if cur.peek().is_some() {
        match cur.next()? {
            b'T' | b't' => {}
            _ => return None,
        }
        let hour = cur.digits(2)?;
        cur.expect(b':')?;
        let minute = cur.digits(2)?;
        let mut second = 0;
        if cur.peek() == Some(b':') {
            cur.next();
            second = cur.digits(2)?;
            if matches!(cur.peek(), Some(b'.') | Some(b',')) {
                cur.next();
                let start = cur.i;
                let mut scale = NANOS_PER_SEC;
                while let Some(d) = cur.peek().filter(u8::is_ascii_digit) {
                    cur.next();
                    if scale > 1 {
                        scale /= 10;
                        nanos += i128::from(d - b'0') * scale;
                    }
                }
                if cur.i == start {
                    return None;
                }
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs = i128::from(hour) * 3600 + i128::from(minute) * 60 + i128::from(second);
        match cur.next() {
            None => {}
            Some(b'Z') | Some(b'z') => {}
            Some(sign @ (b'+' | b'-')) => {
                let oh = cur.digits(2)?;
                let om = match cur.peek() {
                    None => 0,
                    Some(b':') => {
                        cur.next();
                        cur.digits(2)?
                    }
                    Some(_) => cur.digits(2)?,
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let o = i128::from(oh) * 3600 + i128::from(om) * 60;
                offset = if sign == b'+' { o } else { -o };
            }
            Some(_) => return None,
        }
        if cur.peek().is_some() {
            return None;
        }
    }
    let days = i128::from(days_from_civil(i64::from(year), month, day));
    Some((days * 86_400 + secs - offset) * NANOS_PER_SEC + nanos)
}

fn parse_epoch(s: &str) -> Option<i128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() || int.len() > 18 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: i128 = int.parse::<i128>().ok()? * NANOS_PER_SEC;
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut scale = NANOS_PER_SEC;
        for d in f.bytes() {
            if scale > 1 {
                scale /= 10;
                n += i128::from(d - b'0') * scale;
            }
        }
    }
    Some(if neg { -n } else { n })
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.next()?;
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        Some(v)
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn is_leap(year: u32) -> bool {
    // Remainders bound first: `is_multiple_of` is newer than the crate's rust-version (1.80).
    let (r4, r100, r400) = (year % 4, year % 100, year % 400);
    (r4 == 0 && r100 != 0) || r400 == 0
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cidr {
    V4(u32, u8),
    V6(u128, u8),
}

/// `203.0.113.0/24`, `2001:db8::/32`, or a bare address (a single host).
fn parse_cidr(s: &str) -> Option<Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => {
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (a, Some(p.parse::<u8>().ok()?))
        }
        None => (s, None),
    };
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let p = prefix.unwrap_or(32);
            (p <= 32).then(|| Cidr::V4(u32::from(a), p))
        }
        IpAddr::V6(a) => {
            let p = prefix.unwrap_or(128);
            (p <= 128).then(|| Cidr::V6(u128::from(a), p))
        }
    }
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Cidr::V4(net, p), IpAddr::V4(a)) => {
                let mask = if p == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(p))
                };
                (u32::from(a) & mask) == (net & mask)
            }
            (Cidr::V6(net, p), IpAddr::V6(a)) => {
                let mask = if p == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(p))
                };
                (u128::from(a) & mask) == (net & mask)
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lint
// ---------------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::ConditionBlock;

    // ----- helpers -----

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    fn stmt(effect: Effect, actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            sid: None,
            effect,
            action: Some(actions.iter().map(|s| s.to_string()).collect()),
            not_action: None,
            resource: Some(resources.iter().map(|s| s.to_string()).collect()),
            not_resource: None,
            condition: BTreeMap::new(),
        }
    }

    fn allow(actions: &[&str], resources: &[&str]) -> Statement {
        stmt(Effect::Allow, actions, resources)
    }

    fn deny(actions: &[&str], resources: &[&str]) -> Statement {
        stmt(Effect::Deny, actions, resources)
    }

    fn with_cond(mut st: Statement, op: &str, key: &str, values: &[&str]) -> Statement {
        st.condition.entry(op.to_string()).or_default().insert(
            key.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        );
        st
    }

    fn doc(statements: Vec<Statement>) -> PolicyDocument {
        PolicyDocument::new(statements)
    }

    fn decide(docs: &[PolicyDocument], action: &str, resource: &str, c: &Context) -> Decision {
        evaluate(
            docs,
            &Request {
                action,
                resource,
                context: c,
            },
        )
    }

    fn d1(d: &PolicyDocument, action: &str, resource: &str, c: &Context) -> Decision {
        decide(std::slice::from_ref(d), action, resource, c)
    }

    fn none() -> Context {
        Context::new()
    }

    use Decision::{Allow as A, ExplicitDeny as XD, ImplicitDeny as ID};

    // ----- actions -----

    #[test]
    fn action_is_case_insensitive_resource_is_case_sensitive() {
        let d = doc(vec![allow(&["S3:getobject"], &["arn:aws:s3:::Bucket/Key"])]);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::Bucket/Key", &none()),
            A
        );
        assert_eq!(
            d1(&d, "S3:GETOBJECT", "arn:aws:s3:::Bucket/Key", &none()),
            A
        );
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::bucket/key", &none()),
            ID
        );
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::Bucket/KEY", &none()),
            ID
        );
    }

    #[test]
    fn action_wildcards() {
        let d = doc(vec![allow(&["s3:Get*", "sqs:?eleteMessage"], &["*"])]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/k", &none()), A);
        assert_eq!(d1(&d, "s3:getobjectversion", "x", &none()), A);
        assert_eq!(d1(&d, "s3:PutObject", "x", &none()), ID);
        assert_eq!(d1(&d, "sqs:DeleteMessage", "x", &none()), A);
        assert_eq!(d1(&d, "sqs:DeleteMessageBatch", "x", &none()), ID);
        assert_eq!(d1(&d, "s4:GetObject", "x", &none()), ID);
        let all = doc(vec![allow(&["*"], &["*"])]);
        assert_eq!(
            d1(&all, "iam:CreateUser", "arn:aws:iam::1:user/x", &none()),
            A
        );
    }

    #[test]
    fn action_prefix_does_not_leak_to_other_services() {
        let d = doc(vec![allow(&["s3:*"], &["*"])]);
        assert_eq!(d1(&d, "s3:ListBucket", "x", &none()), A);
        assert_eq!(d1(&d, "s3control:ListJobs", "x", &none()), ID);
    }

    #[test]
    fn not_action_applies_to_everything_else() {
        let mut st = allow(&[], &["*"]);
        st.action = None;
        st.not_action = Some(vec!["iam:*".into()]);
        let d = doc(vec![st]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &none()), A);
        assert_eq!(d1(&d, "iam:CreateUser", "x", &none()), ID);
        assert_eq!(d1(&d, "IAM:createuser", "x", &none()), ID);
    }

    #[test]
    fn deny_with_not_action() {
        let mut st = deny(&[], &["*"]);
        st.action = None;
        st.not_action = Some(vec!["s3:GetObject".into()]);
        let d = doc(vec![allow(&["*"], &["*"]), st]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &none()), A);
        assert_eq!(d1(&d, "s3:PutObject", "x", &none()), XD);
    }

    #[test]
    fn statement_without_action_or_resource_matches_nothing() {
        let mut no_action = allow(&[], &["*"]);
        no_action.action = None;
        let mut no_resource = allow(&["*"], &[]);
        no_resource.resource = None;
        let d = doc(vec![no_action, no_resource]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/k", &none()), ID);
        let mut deny_no_resource = deny(&["*"], &[]);
        deny_no_resource.resource = None;
        let d = doc(vec![allow(&["*"], &["*"]), deny_no_resource]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/k", &none()), A);
    }

    #[test]
    fn empty_action_list_matches_nothing() {
        let d = doc(vec![allow(&[], &["*"])]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &none()), ID);
    }

    // ----- resources -----

    #[test]
    fn prefix_grant_covers_only_the_prefix() {
        let d = doc(vec![allow(
            &["s3:GetObject"],
            &["arn:aws:s3:::b/uploads/*"],
        )]);
        let c = none();
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/uploads/a/b.txt", &c),
            A
        );
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/uploads/", &c), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/uploadsX/a", &c), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/uploads", &c), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/other/a", &c), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b", &c), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::bb/uploads/a", &c), ID);
    }

    #[test]
    fn star_crosses_slashes_and_colons() {
        let d = doc(vec![allow(
            &["sqs:SendMessage"],
            &["arn:aws:sqs:*:123456789012:q*"],
        )]);
        let c = none();
        assert_eq!(
            d1(
                &d,
                "sqs:SendMessage",
                "arn:aws:sqs:eu-west-1:123456789012:q1",
                &c
            ),
            A
        );
        let any_tail = doc(vec![allow(&["*"], &["arn:aws:logs:*"])]);
        assert_eq!(
            d1(
                &any_tail,
                "logs:PutLogEvents",
                "arn:aws:logs:eu-west-1:1:log-group:g:log-stream:s",
                &c
            ),
            A
        );
        assert_eq!(
            d1(&any_tail, "logs:PutLogEvents", "arn:aws:s3:::logs", &c),
            ID
        );
    }

    #[test]
    fn question_mark_is_exactly_one_character() {
        let d = doc(vec![allow(
            &["s3:GetObject"],
            &["arn:aws:s3:::b/file?.txt"],
        )]);
        let c = none();
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/file1.txt", &c), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/file.txt", &c), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/file12.txt", &c), ID);
    }

    #[test]
    fn escaped_wildcards_are_literal_in_2012_documents() {
        let d = doc(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/${*}"])]);
        let c = none();
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/x", &c), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/*", &c), A);
        let d = doc(vec![allow(
            &["s3:GetObject"],
            &["arn:aws:s3:::b/a${?}${$}"],
        )]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/a?$", &c), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/ax$", &c), ID);
    }

    #[test]
    fn variables_are_literal_text_in_old_versions() {
        let mut d = doc(vec![allow(
            &["s3:GetObject"],
            &["arn:aws:s3:::b/${aws:username}/*"],
        )]);
        d.version = "2008-10-17".into();
        let c = ctx(&[("aws:username", &["alice"])]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/alice/x", &c), ID);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/${aws:username}/x", &c),
            A
        );
        // ${*} is also literal text there, and the bare `*` inside it is still a wildcard.
        let mut d = doc(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/${*}"])]);
        d.version = "2008-10-17".into();
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/${anything}", &c), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/*", &c), ID);
    }

    #[test]
    fn policy_variable_in_resource() {
        let d = doc(vec![allow(
            &["s3:*"],
            &["arn:aws:s3:::b/home/${aws:username}/*"],
        )]);
        let alice = ctx(&[("aws:username", &["alice"])]);
        let upper = ctx(&[("AWS:UserName", &["alice"])]);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/home/alice/f", &alice),
            A
        );
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/home/bob/f", &alice),
            ID
        );
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/home/alice/f", &upper),
            A
        );
        // Unresolvable: the resource string matches nothing.
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/home/alice/f", &none()),
            ID
        );
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/home//f", &none()),
            ID
        );
        // Multivalued keys cannot be used as variables.
        let multi = ctx(&[("aws:username", &["alice", "bob"])]);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/home/alice/f", &multi),
            ID
        );
    }

    #[test]
    fn substituted_value_is_literal_not_a_wildcard() {
        let d = doc(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${aws:username}"])]);
        let star = ctx(&[("aws:username", &["*"])]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/anything", &star), ID);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/*", &star), A);
    }

    #[test]
    fn policy_variable_default_value() {
        let d = doc(vec![allow(
            &["s3:*"],
            &["arn:aws:s3:::b/${aws:PrincipalTag/team, 'company-wide'}/*"],
        )]);
        let team = ctx(&[("aws:PrincipalTag/team", &["red"])]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/red/x", &team), A);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/company-wide/x", &team),
            ID
        );
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/company-wide/x", &none()),
            A
        );
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/red/x", &none()), ID);
        let quoted = doc(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${k,'it''s'}"])]);
        assert_eq!(
            d1(&quoted, "s3:GetObject", "arn:aws:s3:::b/it's", &none()),
            A
        );
    }

    #[test]
    fn malformed_variables_match_nothing() {
        let c = ctx(&[("k", &["v"])]);
        for pat in [
            "arn:aws:s3:::b/${k",
            "arn:aws:s3:::b/${}",
            "arn:aws:s3:::b/${k, v}",
            "arn:aws:s3:::b/${a b}",
        ] {
            let d = doc(vec![allow(&["s3:*"], &[pat])]);
            for res in ["arn:aws:s3:::b/v", "arn:aws:s3:::b/", pat] {
                assert_eq!(d1(&d, "s3:GetObject", res, &c), ID, "{pat} vs {res}");
            }
            assert!(!lint(&d).is_empty(), "{pat} should be linted");
        }
    }

    #[test]
    fn not_resource() {
        let mut st = allow(&["s3:GetObject"], &[]);
        st.resource = None;
        st.not_resource = Some(vec!["arn:aws:s3:::secret/*".into()]);
        let d = doc(vec![st]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::public/a", &none()), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::secret/a", &none()), ID);
        assert_eq!(d1(&d, "s3:PutObject", "arn:aws:s3:::public/a", &none()), ID);
    }

    #[test]
    fn deny_not_resource_denies_everything_outside() {
        let mut st = deny(&["s3:*"], &[]);
        st.resource = None;
        st.not_resource = Some(vec!["arn:aws:s3:::mine/*".into()]);
        let d = doc(vec![allow(&["s3:*"], &["*"]), st]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::mine/a", &none()), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::theirs/a", &none()), XD);
    }

    #[test]
    fn unresolvable_not_resource_fails_closed() {
        let mut a = allow(&["s3:*"], &[]);
        a.resource = None;
        a.not_resource = Some(vec!["arn:aws:s3:::b/${aws:username}/*".into()]);
        let d = doc(vec![a]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::other/x", &none()), ID);
        let alice = ctx(&[("aws:username", &["alice"])]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::other/x", &alice), A);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/alice/x", &alice), ID);

        let mut dn = deny(&["s3:*"], &[]);
        dn.resource = None;
        dn.not_resource = Some(vec!["arn:aws:s3:::b/${aws:username}/*".into()]);
        let d = doc(vec![allow(&["s3:*"], &["*"]), dn]);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/alice/x", &none()),
            XD
        );
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/alice/x", &alice), A);
    }

    #[test]
    fn both_resource_and_not_resource_fail_closed() {
        let mut a = allow(&["s3:*"], &["arn:aws:s3:::b/*"]);
        a.not_resource = Some(vec!["arn:aws:s3:::b/private/*".into()]);
        let d = doc(vec![a]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/public", &none()), A);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/private/x", &none()),
            ID
        );
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::c/x", &none()), ID);
        let mut dn = deny(&["s3:*"], &["arn:aws:s3:::b/*"]);
        dn.not_resource = Some(vec!["arn:aws:s3:::b/private/*".into()]);
        let d = doc(vec![allow(&["s3:*"], &["*"]), dn]);
        assert_eq!(
            d1(&d, "s3:GetObject", "arn:aws:s3:::b/private/x", &none()),
            XD
        );
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::c/x", &none()), XD);
        assert!(!lint(&d).is_empty());
    }

    // ----- combining -----

    #[test]
    fn explicit_deny_beats_allow_across_documents() {
        let grant = doc(vec![allow(&["s3:*"], &["arn:aws:s3:::b/*"])]);
        let block = doc(vec![deny(&["s3:DeleteObject"], &["arn:aws:s3:::b/*"])]);
        let docs = [grant, block];
        let c = none();
        assert_eq!(decide(&docs, "s3:GetObject", "arn:aws:s3:::b/k", &c), A);
        assert_eq!(decide(&docs, "s3:DeleteObject", "arn:aws:s3:::b/k", &c), XD);
        assert_eq!(decide(&docs, "s3:DeleteObject", "arn:aws:s3:::c/k", &c), ID);
        assert_eq!(decide(&[], "s3:GetObject", "arn:aws:s3:::b/k", &c), ID);
    }

    #[test]
    fn matching_statements_reports_indexes_and_effects() {
        let d0 = doc(vec![
            allow(&["s3:GetObject"], &["arn:aws:s3:::b/*"]),
            allow(&["sqs:*"], &["*"]),
            allow(&["s3:*"], &["*"]),
        ]);
        let d1_ = doc(vec![deny(&["s3:Get*"], &["arn:aws:s3:::b/secret"])]);
        let c = none();
        let req = Request {
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/secret",
            context: &c,
        };
        assert_eq!(
            matching_statements(&[d0.clone(), d1_.clone()], &req),
            vec![
                (0, 0, Effect::Allow),
                (0, 2, Effect::Allow),
                (1, 0, Effect::Deny)
            ]
        );
        let req = Request {
            action: "sqs:SendMessage",
            resource: "q",
            context: &c,
        };
        assert_eq!(
            matching_statements(&[d0, d1_], &req),
            vec![(0, 1, Effect::Allow)]
        );
    }

    // ----- conditions: strings -----

    fn kms_doc() -> PolicyDocument {
        doc(vec![with_cond(
            allow(&["kms:Decrypt"], &["arn:aws:kms:eu-west-1:1:key/k"]),
            "StringEquals",
            "kms:ViaService",
            &["secretsmanager.eu-west-1.amazonaws.com"],
        )])
    }

    #[test]
    fn string_equals_via_service_present_absent_other() {
        let d = kms_doc();
        let key = "arn:aws:kms:eu-west-1:1:key/k";
        let present = ctx(&[(
            "kms:ViaService",
            &["secretsmanager.eu-west-1.amazonaws.com"],
        )]);
        let lower_key = ctx(&[(
            "kms:viaservice",
            &["secretsmanager.eu-west-1.amazonaws.com"],
        )]);
        let other = ctx(&[("kms:ViaService", &["s3.eu-west-1.amazonaws.com"])]);
        let case = ctx(&[(
            "kms:ViaService",
            &["SecretsManager.eu-west-1.amazonaws.com"],
        )]);
        assert_eq!(d1(&d, "kms:Decrypt", key, &present), A);
        assert_eq!(d1(&d, "kms:Decrypt", key, &lower_key), A);
        assert_eq!(d1(&d, "kms:Decrypt", key, &none()), ID);
        assert_eq!(d1(&d, "kms:Decrypt", key, &other), ID);
        assert_eq!(d1(&d, "kms:Decrypt", key, &case), ID);
    }

    #[test]
    fn multiple_values_for_a_key_are_ored() {
        let d = doc(vec![with_cond(
            allow(&["kms:Decrypt"], &["*"]),
            "StringEquals",
            "kms:ViaService",
            &["a.amazonaws.com", "b.amazonaws.com"],
        )]);
        assert_eq!(
            d1(
                &d,
                "kms:Decrypt",
                "k",
                &ctx(&[("kms:ViaService", &["b.amazonaws.com"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "kms:Decrypt",
                "k",
                &ctx(&[("kms:ViaService", &["c.amazonaws.com"])])
            ),
            ID
        );
    }

    #[test]
    fn keys_and_operators_are_anded() {
        let st = with_cond(
            with_cond(
                allow(&["s3:*"], &["*"]),
                "StringEquals",
                "aws:PrincipalTag/team",
                &["red"],
            ),
            "Bool",
            "aws:SecureTransport",
            &["true"],
        );
        let st = with_cond(st, "StringEquals", "aws:RequestedRegion", &["eu-west-1"]);
        let d = doc(vec![st]);
        let all = ctx(&[
            ("aws:PrincipalTag/team", &["red"]),
            ("aws:SecureTransport", &["true"]),
            ("aws:RequestedRegion", &["eu-west-1"]),
        ]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &all), A);
        let mut missing_region = all.clone();
        missing_region.remove("aws:RequestedRegion");
        assert_eq!(d1(&d, "s3:GetObject", "x", &missing_region), ID);
        let mut insecure = all.clone();
        insecure.insert("aws:SecureTransport".into(), vec!["false".into()]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &insecure), ID);
    }

    #[test]
    fn string_not_equals_matches_when_key_absent() {
        let d = doc(vec![
            allow(&["s3:*"], &["*"]),
            with_cond(
                deny(&["s3:*"], &["*"]),
                "StringNotEquals",
                "aws:RequestedRegion",
                &["eu-west-1", "eu-central-1"],
            ),
        ]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &none()), XD);
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:RequestedRegion", &["us-east-1"])])
            ),
            XD
        );
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:RequestedRegion", &["eu-west-1"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:RequestedRegion", &["eu-central-1"])])
            ),
            A
        );
    }

    #[test]
    fn ignore_case_operators() {
        let d = doc(vec![with_cond(
            allow(&["s3:*"], &["*"]),
            "StringEqualsIgnoreCase",
            "aws:PrincipalTag/Team",
            &["Red"],
        )]);
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:principaltag/team", &["RED"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:principaltag/team", &["blue"])])
            ),
            ID
        );
        let n = doc(vec![with_cond(
            allow(&["s3:*"], &["*"]),
            "StringNotEqualsIgnoreCase",
            "t",
            &["Red"],
        )]);
        assert_eq!(d1(&n, "s3:GetObject", "x", &ctx(&[("t", &["rED"])])), ID);
        assert_eq!(d1(&n, "s3:GetObject", "x", &ctx(&[("t", &["green"])])), A);
    }

    #[test]
    fn string_like_and_not_like() {
        let d = doc(vec![with_cond(
            allow(&["s3:ListBucket"], &["arn:aws:s3:::b"]),
            "StringLike",
            "s3:prefix",
            &["home/*", "shared/?"],
        )]);
        let r = "arn:aws:s3:::b";
        assert_eq!(
            d1(
                &d,
                "s3:ListBucket",
                r,
                &ctx(&[("s3:prefix", &["home/a/b"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "s3:ListBucket",
                r,
                &ctx(&[("s3:prefix", &["shared/x"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "s3:ListBucket",
                r,
                &ctx(&[("s3:prefix", &["shared/xy"])])
            ),
            ID
        );
        assert_eq!(
            d1(&d, "s3:ListBucket", r, &ctx(&[("s3:prefix", &["Home/a"])])),
            ID
        );
        assert_eq!(d1(&d, "s3:ListBucket", r, &none()), ID);
        let n = doc(vec![with_cond(
            allow(&["s3:ListBucket"], &[r]),
            "StringNotLike",
            "s3:prefix",
            &["private/*"],
        )]);
        assert_eq!(
            d1(
                &n,
                "s3:ListBucket",
                r,
                &ctx(&[("s3:prefix", &["private/x"])])
            ),
            ID
        );
        assert_eq!(
            d1(
                &n,
                "s3:ListBucket",
                r,
                &ctx(&[("s3:prefix", &["public/x"])])
            ),
            A
        );
        assert_eq!(d1(&n, "s3:ListBucket", r, &none()), A);
    }

    #[test]
    fn string_equals_treats_wildcards_literally() {
        let d = doc(vec![with_cond(
            allow(&["s3:*"], &["*"]),
            "StringEquals",
            "s3:prefix",
            &["home/*"],
        )]);
        assert_eq!(
            d1(
                &d,
                "s3:ListBucket",
                "x",
                &ctx(&[("s3:prefix", &["home/a"])])
            ),
            ID
        );
        assert_eq!(
            d1(
                &d,
                "s3:ListBucket",
                "x",
                &ctx(&[("s3:prefix", &["home/*"])])
            ),
            A
        );
    }

    #[test]
    fn policy_variables_in_condition_values() {
        let d = doc(vec![with_cond(
            allow(&["s3:ListBucket"], &["*"]),
            "StringLike",
            "s3:prefix",
            &["home/${aws:username}/*"],
        )]);
        let alice = ctx(&[
            ("aws:username", &["alice"]),
            ("s3:prefix", &["home/alice/docs"]),
        ]);
        let bob = ctx(&[
            ("aws:username", &["bob"]),
            ("s3:prefix", &["home/alice/docs"]),
        ]);
        let anon = ctx(&[("s3:prefix", &["home/alice/docs"])]);
        assert_eq!(d1(&d, "s3:ListBucket", "x", &alice), A);
        assert_eq!(d1(&d, "s3:ListBucket", "x", &bob), ID);
        assert_eq!(d1(&d, "s3:ListBucket", "x", &anon), ID);
        let eq = doc(vec![with_cond(
            allow(&["s3:*"], &["*"]),
            "StringEquals",
            "aws:PrincipalTag/owner",
            &["${aws:username}"],
        )]);
        assert_eq!(
            d1(
                &eq,
                "s3:GetObject",
                "x",
                &ctx(&[
                    ("aws:username", &["al"]),
                    ("aws:PrincipalTag/owner", &["al"])
                ])
            ),
            A
        );
        assert_eq!(
            d1(
                &eq,
                "s3:GetObject",
                "x",
                &ctx(&[
                    ("aws:username", &["al"]),
                    ("aws:PrincipalTag/owner", &["bo"])
                ])
            ),
            ID
        );
    }

    #[test]
    fn negated_operator_with_unresolvable_variable_fails_closed() {
        let a = doc(vec![with_cond(
            allow(&["s3:*"], &["*"]),
            "StringNotEquals",
            "aws:PrincipalTag/owner",
            &["${aws:username}"],
        )]);
        let c = ctx(&[("aws:PrincipalTag/owner", &["x"])]);
        assert_eq!(d1(&a, "s3:GetObject", "x", &c), ID);
        let dn = doc(vec![
            allow(&["s3:*"], &["*"]),
            with_cond(
                deny(&["s3:*"], &["*"]),
                "StringNotEquals",
                "aws:PrincipalTag/owner",
                &["${aws:username}"],
            ),
        ]);
        assert_eq!(d1(&dn, "s3:GetObject", "x", &c), XD);
    }

    // ----- IfExists, Null, set qualifiers -----

    #[test]
    fn if_exists_matches_when_absent() {
        let d = doc(vec![with_cond(
            allow(&["ec2:RunInstances"], &["*"]),
            "StringEqualsIfExists",
            "ec2:InstanceType",
            &["t3.micro"],
        )]);
        assert_eq!(d1(&d, "ec2:RunInstances", "x", &none()), A);
        assert_eq!(
            d1(
                &d,
                "ec2:RunInstances",
                "x",
                &ctx(&[("ec2:InstanceType", &["t3.micro"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "ec2:RunInstances",
                "x",
                &ctx(&[("ec2:InstanceType", &["m5.large"])])
            ),
            ID
        );
        let n = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "NumericLessThanIfExists",
            "s3:max-keys",
            &["10"],
        )]);
        assert_eq!(d1(&n, "s3:ListBucket", "x", &none()), A);
        assert_eq!(
            d1(&n, "s3:ListBucket", "x", &ctx(&[("s3:max-keys", &["50"])])),
            ID
        );
    }

    #[test]
    fn null_checks_presence() {
        let must_be_absent = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "Null",
            "aws:TokenIssueTime",
            &["true"],
        )]);
        let must_be_present = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "Null",
            "aws:TokenIssueTime",
            &["false"],
        )]);
        let with = ctx(&[("aws:tokenissuetime", &["2024-01-01T00:00:00Z"])]);
        assert_eq!(d1(&must_be_absent, "s3:GetObject", "x", &none()), A);
        assert_eq!(d1(&must_be_absent, "s3:GetObject", "x", &with), ID);
        assert_eq!(d1(&must_be_present, "s3:GetObject", "x", &none()), ID);
        assert_eq!(d1(&must_be_present, "s3:GetObject", "x", &with), A);
        // An empty value list counts as absent.
        let empty = ctx(&[("aws:TokenIssueTime", &[])]);
        assert_eq!(d1(&must_be_absent, "s3:GetObject", "x", &empty), A);
    }

    #[test]
    fn null_with_if_exists_is_unsupported() {
        let d = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "NullIfExists",
            "k",
            &["true"],
        )]);
        assert_eq!(d1(&d, "s3:GetObject", "x", &none()), ID);
        assert!(lint(&d).iter().any(|m| m.contains("NullIfExists")));
    }

    #[test]
    fn for_any_value() {
        let d = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ForAnyValue:StringEquals",
            "aws:TagKeys",
            &["env", "team"],
        )]);
        assert_eq!(
            d1(
                &d,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["cost", "team"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["cost", "owner"])])
            ),
            ID
        );
        assert_eq!(d1(&d, "tag:TagResources", "x", &none()), ID);
        let e = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ForAnyValue:StringEqualsIfExists",
            "aws:TagKeys",
            &["env"],
        )]);
        assert_eq!(d1(&e, "tag:TagResources", "x", &none()), A);
        let n = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ForAnyValue:StringNotEquals",
            "aws:TagKeys",
            &["env"],
        )]);
        assert_eq!(
            d1(
                &n,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["env", "x"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &n,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["env"])])
            ),
            ID
        );
        assert_eq!(d1(&n, "tag:TagResources", "x", &none()), ID);
    }

    #[test]
    fn for_all_values() {
        let d = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ForAllValues:StringLike",
            "aws:TagKeys",
            &["env", "team-*"],
        )]);
        assert_eq!(
            d1(
                &d,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["env", "team-a"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["env", "cost"])])
            ),
            ID
        );
        // Absent (or empty) key: ForAllValues is vacuously true, and lint warns for Allow.
        assert_eq!(d1(&d, "tag:TagResources", "x", &none()), A);
        assert_eq!(
            d1(&d, "tag:TagResources", "x", &ctx(&[("aws:TagKeys", &[])])),
            A
        );
        assert!(lint(&d).iter().any(|m| m.contains("ForAllValues")));
        let n = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(
                deny(&["*"], &["*"]),
                "ForAllValues:StringNotEquals",
                "aws:TagKeys",
                &["secret"],
            ),
        ]);
        assert_eq!(
            d1(
                &n,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["a", "b"])])
            ),
            XD
        );
        assert_eq!(
            d1(
                &n,
                "tag:TagResources",
                "x",
                &ctx(&[("aws:TagKeys", &["a", "secret"])])
            ),
            A
        );
    }

    #[test]
    fn plain_operator_on_multivalued_key() {
        let pos = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "StringEquals",
            "k",
            &["a"],
        )]);
        assert_eq!(d1(&pos, "s3:X", "x", &ctx(&[("k", &["b", "a"])])), A);
        let neg = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "StringNotEquals",
            "k",
            &["a"],
        )]);
        assert_eq!(d1(&neg, "s3:X", "x", &ctx(&[("k", &["b", "a"])])), ID);
        assert_eq!(d1(&neg, "s3:X", "x", &ctx(&[("k", &["b", "c"])])), A);
    }

    // ----- ARN, Bool, Numeric, Date, IP -----

    #[test]
    fn arn_like_matches_per_segment() {
        let d = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ArnLike",
            "aws:SourceArn",
            &["arn:aws:sns:*:123456789012:topic-*"],
        )]);
        let m = |arn: &str| {
            d1(
                &d,
                "sqs:SendMessage",
                "q",
                &ctx(&[("aws:SourceArn", &[arn])]),
            )
        };
        assert_eq!(m("arn:aws:sns:eu-west-1:123456789012:topic-a"), A);
        assert_eq!(m("arn:aws:sns:eu-west-1:123456789012:topic-a:sub"), A);
        // `*` in the region segment must not swallow the account segment.
        assert_eq!(m("arn:aws:sns:eu-west-1:x:999999999999:topic-a"), ID);
        assert_eq!(m("arn:aws:sns:eu-west-1:999999999999:topic-a"), ID);
        assert_eq!(m("arn:aws:sqs:eu-west-1:123456789012:topic-a"), ID);
        assert_eq!(m("not-an-arn"), ID);
        assert_eq!(d1(&d, "sqs:SendMessage", "q", &none()), ID);
        // ArnEquals takes the same wildcards.
        let e = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ArnEquals",
            "aws:SourceArn",
            &["arn:aws:s3:::b*"],
        )]);
        assert_eq!(
            d1(
                &e,
                "s3:X",
                "x",
                &ctx(&[("aws:SourceArn", &["arn:aws:s3:::bucket"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &e,
                "s3:X",
                "x",
                &ctx(&[("aws:SourceArn", &["arn:aws:s3:::c"])])
            ),
            ID
        );
    }

    #[test]
    fn arn_not_like_and_malformed_arn_pattern() {
        let d = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(
                deny(&["*"], &["*"]),
                "ArnNotLike",
                "aws:SourceArn",
                &["arn:aws:sns:*:1:*"],
            ),
        ]);
        assert_eq!(
            d1(
                &d,
                "s3:X",
                "x",
                &ctx(&[("aws:SourceArn", &["arn:aws:sns:r:1:t"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &d,
                "s3:X",
                "x",
                &ctx(&[("aws:SourceArn", &["arn:aws:sns:r:2:t"])])
            ),
            XD
        );
        assert_eq!(d1(&d, "s3:X", "x", &none()), XD);
        let bad = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "ArnLike",
            "aws:SourceArn",
            &["arn:aws:*"],
        )]);
        assert_eq!(
            d1(
                &bad,
                "s3:X",
                "x",
                &ctx(&[("aws:SourceArn", &["arn:aws:s3:::b"])])
            ),
            ID
        );
        assert!(lint(&bad).iter().any(|m| m.contains("not an ARN pattern")));
    }

    #[test]
    fn bool_operator() {
        let d = doc(vec![
            allow(&["s3:*"], &["*"]),
            with_cond(
                deny(&["s3:*"], &["*"]),
                "Bool",
                "aws:SecureTransport",
                &["false"],
            ),
        ]);
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:SecureTransport", &["false"])])
            ),
            XD
        );
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:SecureTransport", &["FALSE"])])
            ),
            XD
        );
        assert_eq!(
            d1(
                &d,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:SecureTransport", &["true"])])
            ),
            A
        );
        // Absent key: Bool does not match, so this Deny does not apply (use BoolIfExists for that).
        assert_eq!(d1(&d, "s3:GetObject", "x", &none()), A);
        let e = doc(vec![
            allow(&["s3:*"], &["*"]),
            with_cond(
                deny(&["s3:*"], &["*"]),
                "BoolIfExists",
                "aws:SecureTransport",
                &["false"],
            ),
        ]);
        assert_eq!(d1(&e, "s3:GetObject", "x", &none()), XD);
    }

    #[test]
    fn numeric_operators() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("NumericEquals", "10", "10", true),
            ("NumericEquals", "10", "10.0", true),
            ("NumericEquals", "10", "11", false),
            ("NumericNotEquals", "10", "11", true),
            ("NumericNotEquals", "10", "10", false),
            ("NumericLessThan", "10", "9", true),
            ("NumericLessThan", "10", "10", false),
            ("NumericLessThanEquals", "10", "10", true),
            ("NumericLessThanEquals", "10", "10.5", false),
            ("NumericGreaterThan", "10", "11", true),
            ("NumericGreaterThan", "10", "10", false),
            ("NumericGreaterThanEquals", "10", "10", true),
            ("NumericGreaterThanEquals", "-1.5", "-2", false),
            ("NumericLessThan", "10", "abc", false),
        ];
        for (op, policy, request, expect) in cases {
            let d = doc(vec![with_cond(
                allow(&["*"], &["*"]),
                op,
                "s3:max-keys",
                &[policy],
            )]);
            let got = d1(
                &d,
                "s3:ListBucket",
                "x",
                &ctx(&[("s3:max-keys", &[request])]),
            );
            assert_eq!(got == A, *expect, "{op} policy {policy} request {request}");
        }
        let ne = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "NumericNotEquals",
            "k",
            &["1"],
        )]);
        assert_eq!(d1(&ne, "s3:X", "x", &none()), A);
        let lt = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "NumericLessThan",
            "k",
            &["1"],
        )]);
        assert_eq!(d1(&lt, "s3:X", "x", &none()), ID);
    }

    #[test]
    fn malformed_numeric_value_fails_closed() {
        let a = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "NumericLessThan",
            "k",
            &["ten"],
        )]);
        assert_eq!(d1(&a, "s3:X", "x", &ctx(&[("k", &["1"])])), ID);
        let d = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(deny(&["*"], &["*"]), "NumericLessThan", "k", &["NaN"]),
        ]);
        assert_eq!(d1(&d, "s3:X", "x", &ctx(&[("k", &["1"])])), XD);
        assert!(lint(&d).iter().any(|m| m.contains("not a number")));
    }

    #[test]
    fn date_operators_iso_and_epoch() {
        let before = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "DateLessThan",
            "aws:CurrentTime",
            &["2024-06-01T00:00:00Z"],
        )]);
        let t = |v: &str| ctx(&[("aws:CurrentTime", &[v])]);
        assert_eq!(d1(&before, "s3:X", "x", &t("2024-05-31T23:59:59Z")), A);
        assert_eq!(d1(&before, "s3:X", "x", &t("2024-06-01T00:00:00Z")), ID);
        assert_eq!(d1(&before, "s3:X", "x", &t("2024-06-01T01:00:00+02:00")), A); // 23:00Z
        assert_eq!(d1(&before, "s3:X", "x", &t("1717199999")), A); // 2024-05-31T23:59:59Z
        assert_eq!(d1(&before, "s3:X", "x", &t("1717200000")), ID);
        assert_eq!(d1(&before, "s3:X", "x", &t("2024-05-31")), A);
        assert_eq!(d1(&before, "s3:X", "x", &t("garbage")), ID);
        assert_eq!(d1(&before, "s3:X", "x", &none()), ID);
        let eq = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "DateEquals",
            "aws:EpochTime",
            &["1717200000"],
        )]);
        assert_eq!(
            d1(
                &eq,
                "s3:X",
                "x",
                &ctx(&[("aws:EpochTime", &["2024-06-01T00:00:00.000Z"])])
            ),
            A
        );
        assert_eq!(
            d1(
                &eq,
                "s3:X",
                "x",
                &ctx(&[("aws:EpochTime", &["2024-06-01T00:00:00.001Z"])])
            ),
            ID
        );
        let ge = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "DateGreaterThanEquals",
            "aws:CurrentTime",
            &["2020-02-29"],
        )]);
        assert_eq!(d1(&ge, "s3:X", "x", &t("2020-02-29T00:00:00Z")), A);
        assert_eq!(d1(&ge, "s3:X", "x", &t("2020-02-28T23:59:59Z")), ID);
        let ne = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "DateNotEquals",
            "aws:CurrentTime",
            &["2020-01-01T00:00:00Z"],
        )]);
        assert_eq!(d1(&ne, "s3:X", "x", &t("2020-01-01T00:00:00Z")), ID);
        assert_eq!(d1(&ne, "s3:X", "x", &t("2020-01-01T00:00:01Z")), A);
        let gt = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "DateGreaterThan",
            "k",
            &["2020-01-01T00:00:00Z"],
        )]);
        assert_eq!(
            d1(&gt, "s3:X", "x", &ctx(&[("k", &["2020-01-01T00:00:00Z"])])),
            ID
        );
        let le = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "DateLessThanEquals",
            "k",
            &["2020-01-01T00:00:00Z"],
        )]);
        assert_eq!(
            d1(&le, "s3:X", "x", &ctx(&[("k", &["2020-01-01T00:00:00Z"])])),
            A
        );
    }

    #[test]
    fn date_parsing_details() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(
            parse_date("1970-01-02T00:00Z"),
            Some(86_400 * NANOS_PER_SEC)
        );
        assert_eq!(parse_date("1970-01-01T01:00:00+0100"), Some(0));
        assert_eq!(parse_date("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(
            parse_date("2000-03-01T00:00:00Z"),
            Some(951_868_800 * NANOS_PER_SEC)
        );
        assert_eq!(parse_date("1.5"), Some(1_500_000_000));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
        assert_eq!(parse_date("2023-01-01T24:00:00Z"), None);
        assert_eq!(parse_date("2023-01-01T10:00:00Zjunk"), None);
        assert_eq!(parse_date("2023-01-01X"), None);
        assert_eq!(parse_date(""), None);
        assert_eq!(parse_date("２０２３-01-01"), None);
    }

    #[test]
    fn ip_address_v4_and_v6() {
        let d = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "IpAddress",
            "aws:SourceIp",
            &["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"],
        )]);
        let ip = |v: &str| d1(&d, "s3:X", "x", &ctx(&[("aws:SourceIp", &[v])]));
        assert_eq!(ip("203.0.113.0"), A);
        assert_eq!(ip("203.0.113.255"), A);
        assert_eq!(ip("203.0.114.1"), ID);
        assert_eq!(ip("198.51.100.7"), A);
        assert_eq!(ip("198.51.100.8"), ID);
        assert_eq!(ip("2001:db8:1::5"), A);
        assert_eq!(ip("2001:DB8::1"), A);
        assert_eq!(ip("2001:db9::1"), ID);
        assert_eq!(ip("not-an-ip"), ID);
        assert_eq!(d1(&d, "s3:X", "x", &none()), ID);
        let n = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(
                deny(&["*"], &["*"]),
                "NotIpAddress",
                "aws:SourceIp",
                &["10.0.0.0/8"],
            ),
        ]);
        assert_eq!(
            d1(&n, "s3:X", "x", &ctx(&[("aws:SourceIp", &["10.1.2.3"])])),
            A
        );
        assert_eq!(
            d1(&n, "s3:X", "x", &ctx(&[("aws:SourceIp", &["11.1.2.3"])])),
            XD
        );
        assert_eq!(d1(&n, "s3:X", "x", &none()), XD);
        let all = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "IpAddress",
            "aws:SourceIp",
            &["0.0.0.0/0"],
        )]);
        assert_eq!(
            d1(&all, "s3:X", "x", &ctx(&[("aws:SourceIp", &["8.8.8.8"])])),
            A
        );
        assert_eq!(
            d1(&all, "s3:X", "x", &ctx(&[("aws:SourceIp", &["::1"])])),
            ID
        );
    }

    #[test]
    fn malformed_cidr_fails_closed() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "2001:db8::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
        ] {
            let d = doc(vec![with_cond(
                allow(&["*"], &["*"]),
                "IpAddress",
                "aws:SourceIp",
                &[bad],
            )]);
            assert_eq!(
                d1(&d, "s3:X", "x", &ctx(&[("aws:SourceIp", &["10.0.0.1"])])),
                ID,
                "{bad}"
            );
            assert!(!lint(&d).is_empty(), "{bad}");
        }
    }

    // ----- unsupported operators -----

    #[test]
    fn unknown_operator_never_widens_access() {
        let a = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "StringFancyEquals",
            "k",
            &["v"],
        )]);
        assert_eq!(d1(&a, "s3:X", "x", &ctx(&[("k", &["v"])])), ID);
        assert_eq!(d1(&a, "s3:X", "x", &none()), ID);
        let d = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(deny(&["*"], &["*"]), "BinaryEquals", "k", &["dg=="]),
        ]);
        assert_eq!(d1(&d, "s3:X", "x", &none()), XD);
        // The Deny still needs its action and resource to match.
        let scoped = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(deny(&["iam:*"], &["*"]), "Whatever", "k", &["v"]),
        ]);
        assert_eq!(d1(&scoped, "s3:X", "x", &none()), A);
        assert_eq!(d1(&scoped, "iam:CreateUser", "x", &none()), XD);
        // A definitely-false operator still prevents the Deny from applying.
        let anded = doc(vec![
            allow(&["*"], &["*"]),
            with_cond(
                with_cond(deny(&["*"], &["*"]), "Whatever", "k", &["v"]),
                "StringEquals",
                "j",
                &["yes"],
            ),
        ]);
        assert_eq!(d1(&anded, "s3:X", "x", &ctx(&[("j", &["no"])])), A);
        assert_eq!(d1(&anded, "s3:X", "x", &ctx(&[("j", &["yes"])])), XD);
        assert!(lint(&a).iter().any(|m| m.contains("StringFancyEquals")));
        assert!(lint(&d).iter().any(|m| m.contains("BinaryEquals")));
    }

    #[test]
    fn operator_names_are_case_sensitive() {
        let a = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "stringequals",
            "k",
            &["v"],
        )]);
        assert_eq!(d1(&a, "s3:X", "x", &ctx(&[("k", &["v"])])), ID);
        assert!(!lint(&a).is_empty());
    }

    #[test]
    fn empty_condition_values_fail_closed() {
        let a = doc(vec![with_cond(
            allow(&["*"], &["*"]),
            "StringNotEquals",
            "k",
            &[],
        )]);
        assert_eq!(d1(&a, "s3:X", "x", &ctx(&[("k", &["v"])])), ID);
        assert!(lint(&a).iter().any(|m| m.contains("no values")));
    }

    // ----- lint -----

    #[test]
    fn lint_clean_document_is_quiet() {
        let d = doc(vec![
            allow(
                &["s3:GetObject"],
                &[
                    "arn:aws:s3:::b/${*}",
                    "arn:aws:s3:::b/home/${aws:username}/*",
                ],
            ),
            with_cond(
                allow(&["kms:Decrypt"], &["*"]),
                "StringEquals",
                "kms:ViaService",
                &["s3.eu-west-1.amazonaws.com"],
            ),
        ]);
        assert_eq!(lint(&d), Vec::<String>::new());
    }

    #[test]
    fn lint_reports_structural_problems() {
        let mut st = allow(&["s3:GetObject"], &["*"]);
        st.action = None;
        st.resource = None;
        let mut d = doc(vec![st, allow(&["GetObject"], &["${aws:username"])]);
        let msgs = lint(&d);
        assert!(
            msgs.iter()
                .any(|m| m.contains("neither Action nor NotAction")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("neither Resource nor NotResource")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("service:Action")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("unterminated")), "{msgs:?}");
        d.version = "2008-10-17".into();
        assert!(lint(&d).iter().any(|m| m.contains("literal text")));
        d.version = "2099-01-01".into();
        assert!(lint(&d)
            .iter()
            .any(|m| m.contains("unknown policy Version")));
    }

    #[test]
    fn document_from_json_evaluates() {
        let d: PolicyDocument = serde_json::from_str(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
                 "Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThanEquals":{"s3:signatureAge":600000}}},
                {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}
            ]}"#,
        )
        .unwrap();
        let good = ctx(&[
            ("aws:SecureTransport", &["true"]),
            ("s3:signatureAge", &["100"]),
            ("aws:RequestedRegion", &["eu-west-1"]),
        ]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/k", &good), A);
        let mut far = good.clone();
        far.insert("aws:RequestedRegion".into(), vec!["us-east-1".into()]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/k", &far), XD);
        let mut old = good.clone();
        old.insert("s3:signatureAge".into(), vec!["600001".into()]);
        assert_eq!(d1(&d, "s3:GetObject", "arn:aws:s3:::b/k", &old), ID);
        let _: &ConditionBlock = &d.statement[0].condition;
    }

    // ----- wildcard matcher: reference implementation and fuzzing -----

    /// Naive recursive reference matcher (exponential in the worst case; only for short inputs).
    fn reference_match(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|k| reference_match(&p[1..], &t[k..])),
            Some('?') => !t.is_empty() && reference_match(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && reference_match(&p[1..], &t[1..]),
        }
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn string(&mut self, alphabet: &[&str], max_len: usize) -> String {
            let len = self.below(max_len + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    #[test]
    fn wildcard_matcher_agrees_with_reference() {
        let mut rng = Lcg(0x5eed);
        let pat_alpha = ["a", "b", "*", "?", "/", ":", "é"];
        let text_alpha = ["a", "b", "/", ":", "é"];
        let mut matched = 0;
        for _ in 0..3000 {
            let p = rng.string(&pat_alpha, 8);
            let t = rng.string(&text_alpha, 10);
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            let expected = reference_match(&pc, &tc);
            assert_eq!(wildcard_match(&p, &t), expected, "pattern {p:?} text {t:?}");
            matched += usize::from(expected);
        }
        // Make sure the generator exercised both outcomes.
        assert!(matched > 100, "only {matched} matches");
    }

    #[test]
    fn wildcard_matcher_is_not_exponential() {
        let text = "a".repeat(20_000);
        assert!(!wildcard_match("*a*a*a*a*a*a*a*a*a*a*b", &text));
        assert!(wildcard_match("*a*a*a*a*a*a*a*a*a*a*", &text));
        let d = doc(vec![allow(&["*a*a*a*a*a*a*b"], &["*a*a*a*a*a*a*a*a*b"])]);
        assert_eq!(d1(&d, &"a".repeat(5_000), &"a".repeat(5_000), &none()), ID);
    }

    #[test]
    fn wildcard_edge_cases() {
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "a"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("**", "abc"));
        assert!(!wildcard_match("?", ""));
        assert!(wildcard_match("a*", "a"));
        assert!(!wildcard_match("a*b", "a"));
        assert!(wildcard_match("*b", "abab"));
        assert!(!wildcard_match("*b", "abba"));
        assert!(wildcard_match("é?", "éü"));
        assert!(action_matches("EC2:Describe*", "ec2:DescribeInstances"));
        assert!(!action_matches("ec2:Describe*", "ec2:RunInstances"));
        assert!(resource_matches(
            "arn:aws:s3:::b/${*}",
            "arn:aws:s3:::b/*",
            "2012-10-17",
            &none()
        ));
        assert!(!resource_matches(
            "arn:aws:s3:::b/${*}",
            "arn:aws:s3:::b/x",
            "2012-10-17",
            &none()
        ));
    }

    #[test]
    fn fuzz_evaluation_never_panics() {
        let mut rng = Lcg(42);
        let frag = [
            "a",
            "*",
            "?",
            "$",
            "{",
            "}",
            "${",
            "${*}",
            "${?}",
            "${$}",
            "${k}",
            "${k, 'd'}",
            "${k,'",
            "'",
            ",",
            ":",
            "/",
            "arn",
            "é",
            " ",
            "-",
            ".",
            "1",
            "T",
            "Z",
            "+",
        ];
        let ops = [
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
            "ArnEquals",
            "ArnLike",
            "ArnNotEquals",
            "ArnNotLike",
            "Bool",
            "Null",
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
            "DateEquals",
            "DateNotEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
            "IpAddress",
            "NotIpAddress",
            "ForAnyValue:StringLike",
            "ForAllValues:StringEqualsIfExists",
            "BoolIfExists",
            "NullIfExists",
            "Bogus",
            "ForAllValues:",
            "IfExists",
            "ForAnyValue:Null",
        ];
        let values = [
            "10",
            "-3.5",
            "1e3",
            "abc",
            "2024-01-01",
            "2024-01-01T00:00:00Z",
            "1700000000",
            "10.0.0.0/8",
            "::1",
            "2001:db8::/32",
            "true",
            "false",
            "arn:aws:s3:::b/*",
            "${k}",
            "${nope}",
            "",
            "9999999999999999999999",
            "2024-02-30",
            "1.2.3.4/99",
        ];
        for _ in 0..400 {
            let mut st = stmt(
                if rng.below(2) == 0 {
                    Effect::Allow
                } else {
                    Effect::Deny
                },
                &[],
                &[],
            );
            st.action = match rng.below(4) {
                0 => None,
                _ => Some((0..rng.below(3)).map(|_| rng.string(&frag, 6)).collect()),
            };
            st.not_action = match rng.below(4) {
                0 => Some(vec![rng.string(&frag, 4)]),
                _ => None,
            };
            st.resource = match rng.below(4) {
                0 => None,
                _ => Some((0..rng.below(3)).map(|_| rng.string(&frag, 8)).collect()),
            };
            st.not_resource = match rng.below(4) {
                0 => Some(vec![rng.string(&frag, 6)]),
                _ => None,
            };
            for _ in 0..rng.below(3) {
                let op = ops[rng.below(ops.len())];
                let vs: Vec<&str> = (0..rng.below(3))
                    .map(|_| values[rng.below(values.len())])
                    .collect();
                st = with_cond(st, op, if rng.below(2) == 0 { "k" } else { "K" }, &vs);
            }
            let mut d = doc(vec![st]);
            if rng.below(3) == 0 {
                d.version = "2008-10-17".into();
            }
            let mut c = Context::new();
            for _ in 0..rng.below(3) {
                let key = ["k", "K", "j"][rng.below(3)].to_string();
                let vs = (0..rng.below(3))
                    .map(|_| values[rng.below(values.len())].to_string())
                    .collect();
                c.insert(key, vs);
            }
            let action = rng.string(&frag, 6);
            let resource = rng.string(&frag, 10);
            let req = Request {
                action: &action,
                resource: &resource,
                context: &c,
            };
            let decision = evaluate(std::slice::from_ref(&d), &req);
            let matches = matching_statements(std::slice::from_ref(&d), &req);
            // evaluate and matching_statements must agree.
            let expected = if matches.iter().any(|m| m.2 == Effect::Deny) {
                XD
            } else if matches.is_empty() {
                ID
            } else {
                A
            };
            assert_eq!(decision, expected);
            let _ = lint(&d);
        }
    }

    /// Prepared policies decide exactly as `evaluate`: random Resource lists and condition
    /// values of literals, wildcards, escapes and variables (resolvable or not), in both grammar
    /// versions, against requests drawn from the same small alphabet so that many match.
    #[test]
    fn prepared_policies_decide_as_evaluate() {
        let mut rng = Lcg(7);
        let frag = [
            "a", "b", "/", "*", "?", "${*}", "${$}", "${k}", "${nope}", "$", ":",
        ];
        let text = ["a", "b", "/", "*", "$", ":", "x"];
        let value = ["a", "b", "*", "?", "${*}", "${k}"];
        let ops = [
            "StringLike",
            "StringNotLike",
            "StringEquals",
            "ForAnyValue:StringLike",
            "ForAllValues:StringLike",
            "StringLikeIfExists",
            "ArnLike",
            "Null",
        ];
        let (mut allowed, mut denied, mut checked) = (0, 0, 0);
        for _ in 0..300 {
            let statements = (0..1 + rng.below(3))
                .map(|_| {
                    let effect = if rng.below(4) == 0 {
                        Effect::Deny
                    } else {
                        Effect::Allow
                    };
                    let mut st = stmt(effect, &["s3:GetObject"], &[]);
                    st.resource = match rng.below(6) {
                        0 => None,
                        1..=2 => Some(vec!["*".to_string()]),
                        _ => Some((0..rng.below(6)).map(|_| rng.string(&frag, 4)).collect()),
                    };
                    if rng.below(5) == 0 {
                        st.not_resource = Some(vec![rng.string(&frag, 3)]);
                    }
                    for _ in 0..rng.below(3) {
                        let op = ops[rng.below(ops.len())];
                        let values: Vec<String> =
                            (0..rng.below(4)).map(|_| rng.string(&value, 2)).collect();
                        let values: Vec<&str> = values.iter().map(String::as_str).collect();
                        st = with_cond(st, op, "c", &values);
                    }
                    st
                })
                .collect();
            let mut d = doc(statements);
            if rng.below(3) == 0 {
                d.version = "2008-10-17".into();
            }
            let policies = [d];
            let prepared = PreparedPolicies::new(&policies);
            let mut c = Context::new();
            if rng.below(2) == 0 {
                c.insert("k".to_string(), vec![rng.string(&text, 2)]);
            }
            for _ in 0..40 {
                match rng.below(3) {
                    0 => c.remove("c"),
                    _ => c.insert(
                        "c".to_string(),
                        (0..1 + rng.below(2))
                            .map(|_| rng.string(&["a", "b", "*"], 2))
                            .collect(),
                    ),
                };
                let resource = rng.string(&text, 4);
                let req = Request {
                    action: "s3:GetObject",
                    resource: &resource,
                    context: &c,
                };
                let want = evaluate(&policies, &req);
                assert_eq!(
                    prepared.evaluate(&req),
                    want,
                    "{resource} {:?}",
                    policies[0]
                );
                checked += 1;
                allowed += usize::from(want == A);
                denied += usize::from(want == XD);
            }
        }
        assert!(
            checked == 12_000 && allowed > 1000 && denied > 100,
            "{allowed} {denied}"
        );
    }

    #[test]
    fn fuzz_parsers_never_panic() {
        let mut rng = Lcg(7);
        let alpha = [
            "0", "1", "9", "-", "+", ":", ".", "T", "Z", "/", "e", "é", "a", "f", " ", ",",
        ];
        for _ in 0..2000 {
            let s = rng.string(&alpha, 26);
            let _ = parse_date(&s);
            let _ = parse_number(&s);
            let _ = parse_cidr(&s);
            let _ = parse_pieces(&s, true, true);
        }
    }
}
