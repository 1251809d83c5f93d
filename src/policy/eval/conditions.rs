//! Condition operators: parsing an operator name (`ForAnyValue:StringNotLikeIfExists`), preparing
//! a key's policy values for it, and testing a request's context values against them.
//!
//! Three-valued: what cannot be evaluated with certainty (an unknown operator, a value that does
//! not parse for its operator) is [`Tri::Unknown`], resolved fail-closed by the statement's
//! effect.

use super::values::{parse_bool, parse_cidr, parse_date, parse_number, Cidr};
use super::Context;
use crate::policy::context::lookup;
use crate::policy::document::ConditionBlock;
use crate::policy::pattern::{glob_match, parse_pieces, resolve, toks_to_string, GlobSet, Tok};
use std::collections::HashMap;
use std::net::IpAddr;

/// Why an operator or a key's policy values cannot be evaluated (the key is then
/// [`Tri::Unknown`]); `lint` reports it in these words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Unevaluable {
    #[error("unsupported condition operator {0:?}")]
    Operator(String),
    #[error("condition operator {0:?}: Null takes neither IfExists nor a set qualifier")]
    QualifiedNull(String),
    #[error("no values")]
    NoValues,
    #[error("{0:?} is not an ARN pattern (ARN operators compare six colon-separated parts)")]
    NotArnPattern(String),
    #[error("{0:?} is not a number")]
    NotNumber(String),
    #[error("{0:?} is not an ISO 8601 date or epoch time")]
    NotDate(String),
    #[error("{0:?} is not an IP address or CIDR")]
    NotIp(String),
    #[error("{0:?} is not true or false")]
    NotBool(String),
}

/// Three-valued outcome: `Unknown` means "cannot be evaluated" and is resolved fail-closed by the
/// statement's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tri {
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

pub(super) fn eval_conditions(
    block: &ConditionBlock,
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
pub(super) type ConditionCache = HashMap<usize, Result<(Prepared, bool), Unevaluable>>;

/// The cache entries for one statement's condition block.
pub(super) fn prepare_conditions(block: &ConditionBlock, vars: bool, cache: &mut ConditionCache) {
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
pub(super) enum SetQ {
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
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
pub(super) enum Base {
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
pub(super) struct Operator {
    pub(super) set: Option<SetQ>,
    pub(super) base: Base,
    negated: bool,
    if_exists: bool,
}

pub(super) fn parse_operator(op: &str) -> Result<Operator, Unevaluable> {
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
        _ => return Err(Unevaluable::Operator(op.to_string())),
    };
    if base == Base::Null && (if_exists || set.is_some()) {
        return Err(Unevaluable::QualifiedNull(op.to_string()));
    }
    Ok(Operator {
        set,
        base,
        negated,
        if_exists,
    })
}

/// Policy-side values of one condition key, resolved and parsed for the operator.
pub(super) enum Prepared {
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
pub(super) fn prepare(
    base: Base,
    values: &[String],
    vars: bool,
    ctx: &Context,
) -> Result<(Prepared, bool), Unevaluable> {
    if values.is_empty() {
        return Err(Unevaluable::NoValues);
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
                    return Err(Unevaluable::NotArnPattern(toks_to_string(toks)));
                }
                arns.push(parts);
            }
            Prepared::Arn(arns)
        }
        Base::Numeric(cmp) => {
            let mut nums = Vec::new();
            for s in strings() {
                nums.push(parse_number(&s).ok_or_else(|| Unevaluable::NotNumber(s.clone()))?);
            }
            Prepared::Numeric(cmp, nums)
        }
        Base::Date(cmp) => {
            let mut dates = Vec::new();
            for s in strings() {
                dates.push(parse_date(&s).ok_or_else(|| Unevaluable::NotDate(s.clone()))?);
            }
            Prepared::Date(cmp, dates)
        }
        Base::Ip => {
            let mut nets = Vec::new();
            for s in strings() {
                nets.push(parse_cidr(&s).ok_or_else(|| Unevaluable::NotIp(s.clone()))?);
            }
            Prepared::Ip(nets)
        }
        Base::Bool | Base::Null => {
            let mut bools = Vec::new();
            for s in strings() {
                bools.push(parse_bool(&s).ok_or_else(|| Unevaluable::NotBool(s.clone()))?);
            }
            Prepared::Bool(bools)
        }
    };
    Ok((prepared, unresolved))
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
    cached: Option<&Result<(Prepared, bool), Unevaluable>>,
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
