//! The document tighten would write: the mined proposal plus what must survive any tightening,
//! carried over from the current policies, and the IAM size limits it must fit.

use super::compare::statement_name;
use crate::policy::eval::action_matches;
use crate::policy::{Effect, PolicyDocument, Statement};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Statements whose Sid starts with this are opted out of tightening: kept verbatim.
pub const NOREPO_PREFIX: &str = "NOREPO";

/// Actions CloudTrail never records: absence of evidence says nothing about them. `iam:PassRole`
/// is an authorization checked inside another call; `logs:PutLogEvents` is the awslogs driver's
/// data plane. Removing either would break tasks that work today.
const NEVER_IN_CLOUDTRAIL: &[&str] = &["iam:PassRole", "logs:PutLogEvents"];

/// IAM's limit for the inline policies of one role together, in characters other than whitespace.
/// (The 6,144 limit of a managed policy never applies: tighten writes no managed policy.)
pub const INLINE_LIMIT: usize = 10_240;

#[derive(Debug, Clone, Copy)]
pub struct CarryOptions {
    /// Keep NOREPO statements (false only with `--touch-norepo`).
    pub norepo: bool,
    /// Keep `iam:PassRole` (false only with `--allow-passrole-removal`).
    pub pass_role: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Carried {
    pub why: String,
    pub source: String,
    pub statement: Statement,
}

/// The document tighten would write, and what it needs to say about it.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub document: PolicyDocument,
    pub carried: Vec<Carried>,
    /// NOREPO statements that differ but share a Sid: IAM refuses a policy with a Sid twice, and
    /// neither may be renamed, so an apply must be refused.
    pub sid_conflicts: Vec<String>,
}

/// Builds the replacement document: the proposal's statements, then the carried-over ones.
pub fn build(
    proposal: &PolicyDocument,
    current: &[(String, &PolicyDocument)],
    opts: CarryOptions,
) -> Replacement {
    let mut carried: Vec<Carried> = Vec::new();
    let push = |c: Carried, list: &mut Vec<Carried>| {
        if !list.iter().any(|x| x.statement == c.statement) {
            list.push(c);
        }
    };
    for (label, doc) in current {
        for (i, st) in doc.statement.iter().enumerate() {
            let source = format!("{label}, statement {}", statement_name(st, i));
            let norepo = st
                .sid
                .as_deref()
                .is_some_and(|s| s.starts_with(NOREPO_PREFIX));
            if norepo && opts.norepo {
                push(
                    Carried {
                        why: format!("Sid starts with {NOREPO_PREFIX}: never touched"),
                        source,
                        statement: st.clone(),
                    },
                    &mut carried,
                );
                continue;
            }
            if st.effect != Effect::Allow {
                continue;
            }
            for action in NEVER_IN_CLOUDTRAIL {
                if *action == "iam:PassRole" && !opts.pass_role {
                    continue;
                }
                let granted = match (&st.action, &st.not_action) {
                    (Some(p), _) => p.iter().any(|p| action_matches(p, action)),
                    (None, Some(n)) => !n.iter().any(|p| action_matches(p, action)),
                    (None, None) => false,
                };
                let proposed = proposal
                    .statement
                    .iter()
                    .any(|p| p.action.iter().flatten().any(|a| action_matches(a, action)));
                if !granted || proposed {
                    continue;
                }
                let why = if *action == "iam:PassRole" {
                    "iam:PassRole is never removed (CloudTrail does not record it)".to_string()
                } else {
                    format!("{action} is never in CloudTrail: kept as granted today")
                };
                push(
                    Carried {
                        why,
                        source: source.clone(),
                        statement: Statement {
                            sid: None,
                            effect: Effect::Allow,
                            action: Some(vec![action.to_string()]),
                            not_action: None,
                            resource: st.resource.clone(),
                            not_resource: st.not_resource.clone(),
                            condition: st.condition.clone(),
                        },
                    },
                    &mut carried,
                );
            }
        }
    }
    // Carried Sids are kept verbatim (NOREPO ones may not change): the others fit around them.
    let mut first_with: BTreeMap<&str, &str> = BTreeMap::new();
    let mut sid_conflicts = Vec::new();
    for c in &carried {
        let Some(sid) = c.statement.sid.as_deref() else {
            continue;
        };
        match first_with.get(sid) {
            Some(first) => sid_conflicts.push(format!(
                "{first} and {} are carried over with the same Sid {sid:?}: IAM requires Sids to \
                 be unique in a policy, and NOREPO statements are never changed; rename one of \
                 them by hand",
                c.source
            )),
            None => {
                first_with.insert(sid, &c.source);
            }
        }
    }
    let mut sids: BTreeSet<String> = first_with.keys().map(|s| s.to_string()).collect();
    let mut statements = proposal.statement.clone();
    // Only the proposal's statements that must change are renamed, around all the others.
    let keep: Vec<bool> = statements
        .iter()
        .map(|st| match &st.sid {
            Some(sid) => !sid.starts_with(NOREPO_PREFIX) && sids.insert(sid.clone()),
            None => true,
        })
        .collect();
    for (st, keep) in statements.iter_mut().zip(keep) {
        if let (Some(sid), false) = (&st.sid, keep) {
            let free = free_sid(sid, &sids);
            sids.insert(free.clone());
            st.sid = Some(free);
        }
    }
    let mut n = 0;
    for c in &mut carried {
        let st = &mut c.statement;
        if st.sid.is_none() {
            let sid = loop {
                n += 1;
                let sid = format!("CarriedOver{n}");
                if !sids.contains(&sid) {
                    break sid;
                }
            };
            sids.insert(sid.clone());
            st.sid = Some(sid);
        }
        statements.push(st.clone());
    }
    let mut document = PolicyDocument::new(statements);
    document.version = proposal.version.clone();
    Replacement {
        document,
        carried,
        sid_conflicts,
    }
}

/// `sid`, or a variant of it no statement has yet. A mined statement never keeps a NOREPO
/// prefix: once written it would opt itself out of every later tightening.
fn free_sid(sid: &str, taken: &BTreeSet<String>) -> String {
    let base = if sid.starts_with(NOREPO_PREFIX) {
        format!("Mined{sid}")
    } else {
        sid.to_string()
    };
    if !taken.contains(&base) {
        return base;
    }
    (2u64..)
        .map(|k| format!("{base}{k}"))
        .find(|s| !taken.contains(s))
        .unwrap_or(base)
}

/// What an apply would leave in the role's inline policies, in characters without whitespace.
#[derive(Debug, Clone, Copy)]
pub struct InlineSizes {
    /// The mined proposal alone.
    pub proposal: usize,
    /// The proposal with the statements carried over.
    pub replacement: usize,
    /// The replacement with the other inline policies that stay.
    pub after: usize,
}

/// Why the role's inline policies would be over IAM's limit, with what would bring them under
/// it, judged from the first part that is over; None when they fit. `managed_parts`: how many
/// managed policies the proposal splits into (0 when it fits inline); `wildcard_threshold`: the
/// one it was mined with, for a `propose` that gives the same policy.
pub fn size_refusal(
    s: InlineSizes,
    role_arn: &str,
    managed_parts: usize,
    wildcard_threshold: usize,
) -> Option<String> {
    let over = |n: usize| n.saturating_sub(INLINE_LIMIT);
    if s.proposal > INLINE_LIMIT {
        let parts = match managed_parts {
            0 | 1 => "several".to_string(),
            n => n.to_string(),
        };
        return Some(format!(
            "the proposal alone has {} characters (without whitespace), {} over IAM's \
             {INLINE_LIMIT} for a role's inline policies, and tighten writes a single inline \
             policy: no option makes it fit. `policy-miner propose --role {role_arn} \
             --wildcard-threshold {wildcard_threshold} --out DIR` writes it as {parts} managed \
             policies of at most {} characters; create those, \
             attach them to the role, then remove its broader policies by hand",
            s.proposal,
            over(s.proposal),
            crate::synth::size::MANAGED_LIMIT
        ));
    }
    if s.replacement > INLINE_LIMIT {
        return Some(format!(
            "the replacement has {} characters (without whitespace), {} over IAM's \
             {INLINE_LIMIT} for a role's inline policies: the proposal's {} and the statements \
             carried over from the current policies (NOREPO, iam:PassRole, logs:PutLogEvents); \
             --remove-inline does not change that: shorten the carried-over statements in the \
             current policies",
            s.replacement,
            over(s.replacement),
            s.proposal
        ));
    }
    (s.after > INLINE_LIMIT).then(|| {
        format!(
            "inline policies would total {} characters (without whitespace), {} over IAM's \
             {INLINE_LIMIT} per role: the replacement's {} and {} of other inline policies that \
             stay; pass --remove-inline to replace them",
            s.after,
            over(s.after),
            s.replacement,
            s.after.saturating_sub(s.replacement)
        )
    })
}

/// IAM's size measure: characters other than whitespace.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// The replacement as written: compact JSON.
pub fn to_text(doc: &PolicyDocument) -> String {
    serde_json::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> PolicyDocument {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn norepo_statements_and_passrole_survive_and_nothing_else_is_added() {
        let proposal = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"S31","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}]}"#,
        );
        let current = doc(r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"s3:*","Resource":"*"},
                {"Sid":"NOREPOKeepQueue","Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:eu-west-1:1:q"},
                {"Effect":"Allow","Action":["iam:PassRole","ec2:*"],"Resource":"arn:aws:iam::1:role/app",
                 "Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}]}"#);
        let opts = CarryOptions {
            norepo: true,
            pass_role: true,
        };
        let Replacement {
            document: out,
            carried,
            ..
        } = build(&proposal, &[("inline policy broad".into(), &current)], opts);
        assert_eq!(carried.len(), 2);
        assert_eq!(out.statement.len(), 3);
        assert_eq!(out.statement[1], current.statement[1]);
        let pass = &out.statement[2];
        assert_eq!(pass.action, Some(vec!["iam:PassRole".to_string()]));
        assert_eq!(pass.resource, current.statement[2].resource);
        assert_eq!(pass.condition, current.statement[2].condition);

        let off = CarryOptions {
            norepo: false,
            pass_role: false,
        };
        let Replacement {
            document: out,
            carried,
            ..
        } = build(&proposal, &[("x".into(), &current)], off);
        assert!(carried.is_empty());
        assert_eq!(out, proposal);
    }

    /// A proposal Sid that clashes with a NOREPO one: the proposal's statement is renamed (and
    /// loses the prefix, or it would opt itself out of the next tightening), the NOREPO one is
    /// written exactly as it is today.
    #[test]
    fn a_sid_clash_renames_the_proposal_never_the_norepo_statement() {
        let proposal = doc(r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"NOREPOKeep","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]},
                {"Sid":"MinedNOREPOKeep","Effect":"Allow","Action":["sqs:SendMessage"],"Resource":["arn:aws:sqs:eu-west-1:1:q"]},
                {"Sid":"Kms1","Effect":"Allow","Action":["kms:Decrypt"],"Resource":["arn:aws:kms:eu-west-1:1:key/k"]}]}"#);
        let current = doc(r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"NOREPOKeep","Effect":"Allow","Action":"sqs:*","Resource":"*"},
                {"Sid":"Kms1","Effect":"Allow","Action":"iam:PassRole","Resource":"*"}]}"#);
        let opts = CarryOptions {
            norepo: true,
            pass_role: true,
        };
        let r = build(
            &proposal,
            &[("inline policy legacy".into(), &current)],
            opts,
        );
        assert!(r.sid_conflicts.is_empty(), "{:?}", r.sid_conflicts);
        let sids: Vec<_> = r
            .document
            .statement
            .iter()
            .map(|s| s.sid.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            sids,
            [
                "MinedNOREPOKeep2",
                "MinedNOREPOKeep",
                "Kms1",
                "NOREPOKeep",
                "CarriedOver1"
            ]
        );
        assert_eq!(r.document.statement[3], current.statement[0]);
        assert_eq!(r.carried[0].statement, current.statement[0]);
        for (mine, theirs) in r.document.statement.iter().zip(&proposal.statement) {
            assert_eq!(
                (&mine.action, &mine.resource),
                (&theirs.action, &theirs.resource)
            );
        }
    }

    /// Two different NOREPO statements with one Sid cannot both be written unchanged: neither is
    /// renamed, and the apply is refused with both named.
    #[test]
    fn norepo_statements_sharing_a_sid_are_a_refusal_not_a_rename() {
        let proposal = doc(r#"{"Version":"2012-10-17","Statement":[]}"#);
        let a = doc(
            r#"{"Statement":[{"Sid":"NOREPOKeep","Effect":"Allow","Action":"sqs:*","Resource":"*"}]}"#,
        );
        let b = doc(
            r#"{"Statement":[{"Sid":"NOREPOKeep","Effect":"Allow","Action":"sns:*","Resource":"*"}]}"#,
        );
        let opts = CarryOptions {
            norepo: true,
            pass_role: true,
        };
        let r = build(
            &proposal,
            &[
                ("inline policy a".into(), &a),
                ("inline policy b".into(), &b),
            ],
            opts,
        );
        assert_eq!(
            r.document.statement,
            [a.statement[0].clone(), b.statement[0].clone()]
        );
        assert_eq!(r.sid_conflicts.len(), 1);
        let why = &r.sid_conflicts[0];
        assert!(
            why.contains("inline policy a, statement")
                && why.contains("inline policy b, statement"),
            "{why}"
        );
        // The same statement in both is one statement: no conflict.
        let r = build(&proposal, &[("a".into(), &a), ("a again".into(), &a)], opts);
        assert!(r.sid_conflicts.is_empty());
        assert_eq!(r.document.statement.len(), 1);
    }

    /// Each size refusal names the part that is over and the remedy that works for it.
    #[test]
    fn a_size_refusal_says_what_is_over_and_what_helps() {
        let role = "arn:aws:iam::1:role/big";
        let sizes = |proposal, replacement, after| InlineSizes {
            proposal,
            replacement,
            after,
        };
        assert_eq!(size_refusal(sizes(9_000, 9_500, 10_240), role, 0, 3), None);

        let alone = size_refusal(sizes(12_000, 12_300, 15_000), role, 2, 3).unwrap();
        assert!(
            alone.starts_with(
                "the proposal alone has 12000 characters (without whitespace), 1760 over IAM's \
                 10240 for a role's inline policies"
            ),
            "{alone}"
        );
        assert!(
            alone.contains(
                "`policy-miner propose --role arn:aws:iam::1:role/big --wildcard-threshold 3 --out \
                 DIR` writes it as 2 managed policies of at most 6144 characters"
            ),
            "{alone}"
        );
        assert!(!alone.contains("--remove-inline"), "{alone}");

        let carried = size_refusal(sizes(10_000, 10_300, 10_300), role, 0, 3).unwrap();
        assert!(
            carried
                .starts_with("the replacement has 10300 characters (without whitespace), 60 over"),
            "{carried}"
        );
        assert!(
            carried.contains("--remove-inline does not change that"),
            "{carried}"
        );

        let others = size_refusal(sizes(5_000, 5_100, 11_000), role, 0, 3).unwrap();
        assert!(
            others.starts_with("inline policies would total 11000 characters (without whitespace), 760 over IAM's 10240 per role: the replacement's 5100 and 5900 of other inline policies"),
            "{others}"
        );
        assert!(
            others.ends_with("pass --remove-inline to replace them"),
            "{others}"
        );
    }

    #[test]
    fn size_counts_everything_but_whitespace() {
        assert_eq!(policy_size("{ \"a\" :\n\t\"b c\" }"), 10);
    }
}
