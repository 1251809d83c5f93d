//! The evaluator's cases, one table per concern: actions, resources, documents, string
//! conditions, presence and set qualifiers, typed operators, fail-closed operators, lint. A case
//! is a set of policies and the decision each request gets (checked both by [`evaluate`] and by
//! [`PreparedPolicies`]), with the lint messages the policies must draw. The random property tests
//! follow the tables.

use super::*;
use crate::policy::document::ConditionBlock;
use crate::policy::testing::{
    allow, ctx, deny, doc, stmt, version, with_cond, with_not_action, with_not_resource,
    without_action, without_resource, Lcg,
};
use Decision::{Allow as A, ExplicitDeny as XD, ImplicitDeny as ID};

/// A request's context keys and their values.
type Ctx = &'static [(&'static str, &'static [&'static str])];

/// A request and the decision it must get: (action, resource, context, decision).
type Row = (&'static str, &'static str, Ctx, Decision);

struct Case {
    /// What the case shows; printed when one of its rows fails.
    what: &'static str,
    policies: Vec<PolicyDocument>,
    rows: &'static [Row],
    /// Texts some lint message of the policies contains (`""`: lint reports something).
    lint: &'static [&'static str],
}

fn case(what: &'static str, policies: Vec<PolicyDocument>, rows: &'static [Row]) -> Case {
    Case {
        what,
        policies,
        rows,
        lint: &[],
    }
}

impl Case {
    fn linted(mut self, lint: &'static [&'static str]) -> Case {
        self.lint = lint;
        self
    }
}

/// One document of these statements.
fn one(statements: Vec<Statement>) -> Vec<PolicyDocument> {
    vec![doc(statements)]
}

/// Allow everything, then this Deny statement (whose condition decides).
fn allow_all_but(deny_statement: Statement) -> Vec<PolicyDocument> {
    one(vec![allow(&["*"], &["*"]), deny_statement])
}

/// Checks every row of every case, and every case's lint texts.
fn run(cases: Vec<Case>) {
    for c in &cases {
        let prepared = PreparedPolicies::new(&c.policies);
        for (i, &(action, resource, context, want)) in c.rows.iter().enumerate() {
            let context = ctx(context);
            let req = Request {
                action,
                resource,
                context: &context,
            };
            let why = format!("{}: row {i} ({action} on {resource}, {context:?})", c.what);
            assert_eq!(evaluate(&c.policies, &req), want, "{why}");
            assert_eq!(prepared.evaluate(&req), want, "prepared, {why}");
        }
        let messages: Vec<String> = c.policies.iter().flat_map(lint).collect();
        for text in c.lint {
            assert!(
                messages.iter().any(|m| m.contains(text)),
                "{}: no lint message contains {text:?}: {messages:?}",
                c.what
            );
        }
    }
}

// ----- actions -----

#[test]
fn actions() {
    let all = one(vec![allow(&["*"], &["*"])]);
    #[rustfmt::skip]
    let cases = vec![
        case(
            "Action is case-insensitive, Resource case-sensitive",
            one(vec![allow(&["S3:getobject"], &["arn:aws:s3:::Bucket/Key"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::Bucket/Key", &[], A),
                ("S3:GETOBJECT", "arn:aws:s3:::Bucket/Key", &[], A),
                ("s3:GetObject", "arn:aws:s3:::bucket/key", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::Bucket/KEY", &[], ID),
            ],
        ),
        case(
            "Action wildcards",
            one(vec![allow(&["s3:Get*", "sqs:?eleteMessage"], &["*"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/k", &[], A),
                ("s3:getobjectversion", "x", &[], A),
                ("s3:PutObject", "x", &[], ID),
                ("sqs:DeleteMessage", "x", &[], A),
                ("sqs:DeleteMessageBatch", "x", &[], ID),
                ("s4:GetObject", "x", &[], ID),
            ],
        ),
        case(
            "Action * matches every action",
            all,
            &[("iam:CreateUser", "arn:aws:iam::1:user/x", &[], A)],
        ),
        case(
            "a service's * does not leak to other services",
            one(vec![allow(&["s3:*"], &["*"])]),
            &[
                ("s3:ListBucket", "x", &[], A),
                ("s3control:ListJobs", "x", &[], ID),
            ],
        ),
        case(
            "NotAction applies to everything else",
            one(vec![with_not_action(without_action(allow(&[], &["*"])), &["iam:*"])]),
            &[
                ("s3:GetObject", "x", &[], A),
                ("iam:CreateUser", "x", &[], ID),
                ("IAM:createuser", "x", &[], ID),
            ],
        ),
        case(
            "Deny with NotAction",
            allow_all_but(with_not_action(without_action(deny(&[], &["*"])), &["s3:GetObject"])),
            &[
                ("s3:GetObject", "x", &[], A),
                ("s3:PutObject", "x", &[], XD),
            ],
        ),
        case(
            "a statement without Action or without Resource matches nothing",
            one(vec![without_action(allow(&[], &["*"])), without_resource(allow(&["*"], &[]))]),
            &[("s3:GetObject", "arn:aws:s3:::b/k", &[], ID)],
        ),
        case(
            "a Deny without Resource matches nothing",
            allow_all_but(without_resource(deny(&["*"], &[]))),
            &[("s3:GetObject", "arn:aws:s3:::b/k", &[], A)],
        ),
        case(
            "an empty Action list matches nothing",
            one(vec![allow(&[], &["*"])]),
            &[("s3:GetObject", "x", &[], ID)],
        ),
    ];
    run(cases);
}

#[test]
fn action_patterns() {
    // (pattern, action, matches)
    let table = [
        ("EC2:Describe*", "ec2:DescribeInstances", true),
        ("ec2:Describe*", "ec2:RunInstances", false),
    ];
    for (pattern, action, want) in table {
        assert_eq!(action_matches(pattern, action), want, "{pattern} {action}");
    }
}

// ----- resources -----

#[test]
fn resources() {
    const ALICE: Ctx = &[("aws:username", &["alice"])];
    const K_V: Ctx = &[("k", &["v"])];
    const TEAM: Ctx = &[("aws:PrincipalTag/team", &["red"])];
    let home = "arn:aws:s3:::b/home/${aws:username}/*";
    let user_dir = "arn:aws:s3:::b/${aws:username}/*";
    #[rustfmt::skip]
    let cases = vec![
        case(
            "a prefix grant covers only the prefix",
            one(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/uploads/*"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/uploads/a/b.txt", &[], A),
                ("s3:GetObject", "arn:aws:s3:::b/uploads/", &[], A),
                ("s3:GetObject", "arn:aws:s3:::b/uploadsX/a", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::b/uploads", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::b/other/a", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::b", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::bb/uploads/a", &[], ID),
            ],
        ),
        case(
            "* crosses colons",
            one(vec![allow(&["sqs:SendMessage"], &["arn:aws:sqs:*:123456789012:q*"])]),
            &[("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:q1", &[], A)],
        ),
        case(
            "* crosses slashes and colons to the end",
            one(vec![allow(&["*"], &["arn:aws:logs:*"])]),
            &[
                ("logs:PutLogEvents", "arn:aws:logs:eu-west-1:1:log-group:g:log-stream:s", &[], A),
                ("logs:PutLogEvents", "arn:aws:s3:::logs", &[], ID),
            ],
        ),
        case(
            "? is exactly one character",
            one(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/file?.txt"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/file1.txt", &[], A),
                ("s3:GetObject", "arn:aws:s3:::b/file.txt", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::b/file12.txt", &[], ID),
            ],
        ),
        case(
            "${*} is a literal star in 2012 documents",
            one(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/${*}"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/x", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::b/*", &[], A),
            ],
        ),
        case(
            "${?} and ${$} are literal in 2012 documents",
            one(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/a${?}${$}"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/a?$", &[], A),
                ("s3:GetObject", "arn:aws:s3:::b/ax$", &[], ID),
            ],
        ),
        case(
            "variables are literal text in 2008 documents",
            vec![version(doc(vec![allow(&["s3:GetObject"], &[user_dir])]), "2008-10-17")],
            &[
                ("s3:GetObject", "arn:aws:s3:::b/alice/x", ALICE, ID),
                ("s3:GetObject", "arn:aws:s3:::b/${aws:username}/x", ALICE, A),
            ],
        ),
        case(
            "${*} is literal text in 2008 documents, its * still a wildcard",
            vec![version(doc(vec![allow(&["s3:GetObject"], &["arn:aws:s3:::b/${*}"])]), "2008-10-17")],
            &[
                ("s3:GetObject", "arn:aws:s3:::b/${anything}", ALICE, A),
                ("s3:GetObject", "arn:aws:s3:::b/*", ALICE, ID),
            ],
        ),
        case(
            "a policy variable in a Resource: resolved case-insensitively, single-valued only",
            one(vec![allow(&["s3:*"], &[home])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/home/alice/f", ALICE, A),
                ("s3:GetObject", "arn:aws:s3:::b/home/bob/f", ALICE, ID),
                ("s3:GetObject", "arn:aws:s3:::b/home/alice/f", &[("AWS:UserName", &["alice"])], A),
                // Unresolvable: the resource string matches nothing.
                ("s3:GetObject", "arn:aws:s3:::b/home/alice/f", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::b/home//f", &[], ID),
                // Multivalued keys cannot be used as variables.
                ("s3:GetObject", "arn:aws:s3:::b/home/alice/f", &[("aws:username", &["alice", "bob"])], ID),
            ],
        ),
        case(
            "a substituted value is literal, not a wildcard",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${aws:username}"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/anything", &[("aws:username", &["*"])], ID),
                ("s3:GetObject", "arn:aws:s3:::b/*", &[("aws:username", &["*"])], A),
            ],
        ),
        case(
            "a policy variable's default value",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${aws:PrincipalTag/team, 'company-wide'}/*"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/red/x", TEAM, A),
                ("s3:GetObject", "arn:aws:s3:::b/company-wide/x", TEAM, ID),
                ("s3:GetObject", "arn:aws:s3:::b/company-wide/x", &[], A),
                ("s3:GetObject", "arn:aws:s3:::b/red/x", &[], ID),
            ],
        ),
        case(
            "'' is a quote in a default value",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${k,'it''s'}"])]),
            &[("s3:GetObject", "arn:aws:s3:::b/it's", &[], A)],
        ),
        case(
            "an unterminated variable matches nothing",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${k"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/v", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/${k", K_V, ID),
            ],
        )
        .linted(&[""]),
        case(
            "an empty variable matches nothing",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${}"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/v", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/${}", K_V, ID),
            ],
        )
        .linted(&[""]),
        case(
            "a variable with an unquoted default matches nothing",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${k, v}"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/v", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/${k, v}", K_V, ID),
            ],
        )
        .linted(&[""]),
        case(
            "a variable with a space in its key matches nothing",
            one(vec![allow(&["s3:*"], &["arn:aws:s3:::b/${a b}"])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/v", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/", K_V, ID),
                ("s3:GetObject", "arn:aws:s3:::b/${a b}", K_V, ID),
            ],
        )
        .linted(&[""]),
        case(
            "NotResource",
            one(vec![with_not_resource(
                without_resource(allow(&["s3:GetObject"], &[])),
                &["arn:aws:s3:::secret/*"],
            )]),
            &[
                ("s3:GetObject", "arn:aws:s3:::public/a", &[], A),
                ("s3:GetObject", "arn:aws:s3:::secret/a", &[], ID),
                ("s3:PutObject", "arn:aws:s3:::public/a", &[], ID),
            ],
        ),
        case(
            "a Deny with NotResource denies everything outside",
            one(vec![
                allow(&["s3:*"], &["*"]),
                with_not_resource(without_resource(deny(&["s3:*"], &[])), &["arn:aws:s3:::mine/*"]),
            ]),
            &[
                ("s3:GetObject", "arn:aws:s3:::mine/a", &[], A),
                ("s3:GetObject", "arn:aws:s3:::theirs/a", &[], XD),
            ],
        ),
        case(
            "an unresolvable NotResource fails closed: Allow",
            one(vec![with_not_resource(without_resource(allow(&["s3:*"], &[])), &[user_dir])]),
            &[
                ("s3:GetObject", "arn:aws:s3:::other/x", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::other/x", ALICE, A),
                ("s3:GetObject", "arn:aws:s3:::b/alice/x", ALICE, ID),
            ],
        ),
        case(
            "an unresolvable NotResource fails closed: Deny",
            one(vec![
                allow(&["s3:*"], &["*"]),
                with_not_resource(without_resource(deny(&["s3:*"], &[])), &[user_dir]),
            ]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/alice/x", &[], XD),
                ("s3:GetObject", "arn:aws:s3:::b/alice/x", ALICE, A),
            ],
        ),
        case(
            "both Resource and NotResource fail closed: Allow",
            one(vec![with_not_resource(
                allow(&["s3:*"], &["arn:aws:s3:::b/*"]),
                &["arn:aws:s3:::b/private/*"],
            )]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/public", &[], A),
                ("s3:GetObject", "arn:aws:s3:::b/private/x", &[], ID),
                ("s3:GetObject", "arn:aws:s3:::c/x", &[], ID),
            ],
        ),
        case(
            "both Resource and NotResource fail closed: Deny",
            one(vec![
                allow(&["s3:*"], &["*"]),
                with_not_resource(deny(&["s3:*"], &["arn:aws:s3:::b/*"]), &["arn:aws:s3:::b/private/*"]),
            ]),
            &[
                ("s3:GetObject", "arn:aws:s3:::b/private/x", &[], XD),
                ("s3:GetObject", "arn:aws:s3:::c/x", &[], XD),
            ],
        )
        .linted(&[""]),
    ];
    run(cases);
}

// ----- documents -----

#[test]
fn documents() {
    let from_json: PolicyDocument = serde_json::from_str(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
             "Condition":{"Bool":{"aws:SecureTransport":true},"NumericLessThanEquals":{"s3:signatureAge":600000}}},
            {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}
        ]}"#,
    )
    .unwrap();
    let _: &ConditionBlock = &from_json.statement[0].condition;
    #[rustfmt::skip]
    let cases = vec![
        case(
            "an explicit Deny beats an Allow across documents",
            vec![
                doc(vec![allow(&["s3:*"], &["arn:aws:s3:::b/*"])]),
                doc(vec![deny(&["s3:DeleteObject"], &["arn:aws:s3:::b/*"])]),
            ],
            &[
                ("s3:GetObject", "arn:aws:s3:::b/k", &[], A),
                ("s3:DeleteObject", "arn:aws:s3:::b/k", &[], XD),
                ("s3:DeleteObject", "arn:aws:s3:::c/k", &[], ID),
            ],
        ),
        case(
            "no policies deny implicitly",
            vec![],
            &[("s3:GetObject", "arn:aws:s3:::b/k", &[], ID)],
        ),
        case(
            "a document read from JSON evaluates",
            vec![from_json],
            &[
                ("s3:GetObject", "arn:aws:s3:::b/k", &[("aws:SecureTransport", &["true"]), ("s3:signatureAge", &["100"]), ("aws:RequestedRegion", &["eu-west-1"])], A),
                ("s3:GetObject", "arn:aws:s3:::b/k", &[("aws:SecureTransport", &["true"]), ("s3:signatureAge", &["100"]), ("aws:RequestedRegion", &["us-east-1"])], XD),
                ("s3:GetObject", "arn:aws:s3:::b/k", &[("aws:SecureTransport", &["true"]), ("s3:signatureAge", &["600001"]), ("aws:RequestedRegion", &["eu-west-1"])], ID),
            ],
        ),
    ];
    run(cases);
}

#[test]
fn matching_statements_reports_indexes_and_effects() {
    let d0 = doc(vec![
        allow(&["s3:GetObject"], &["arn:aws:s3:::b/*"]),
        allow(&["sqs:*"], &["*"]),
        allow(&["s3:*"], &["*"]),
    ]);
    let d1_ = doc(vec![deny(&["s3:Get*"], &["arn:aws:s3:::b/secret"])]);
    let c = Context::new();
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

#[test]
fn string_conditions() {
    const VIA_SECRETS: &[&str] = &["secretsmanager.eu-west-1.amazonaws.com"];
    const KEY: &str = "arn:aws:kms:eu-west-1:1:key/k";
    const ALL_THREE: Ctx = &[
        ("aws:PrincipalTag/team", &["red"]),
        ("aws:SecureTransport", &["true"]),
        ("aws:RequestedRegion", &["eu-west-1"]),
    ];
    const OWNER_X: Ctx = &[("aws:PrincipalTag/owner", &["x"])];
    let all_three = with_cond(
        with_cond(
            with_cond(
                allow(&["s3:*"], &["*"]),
                "StringEquals",
                "aws:PrincipalTag/team",
                &["red"],
            ),
            "Bool",
            "aws:SecureTransport",
            &["true"],
        ),
        "StringEquals",
        "aws:RequestedRegion",
        &["eu-west-1"],
    );
    let bucket = "arn:aws:s3:::b";
    #[rustfmt::skip]
    let cases = vec![
        case(
            "StringEquals: key names case-insensitive, values case-sensitive",
            one(vec![with_cond(
                allow(&["kms:Decrypt"], &[KEY]),
                "StringEquals",
                "kms:ViaService",
                VIA_SECRETS,
            )]),
            &[
                ("kms:Decrypt", KEY, &[("kms:ViaService", VIA_SECRETS)], A),
                ("kms:Decrypt", KEY, &[("kms:viaservice", VIA_SECRETS)], A),
                ("kms:Decrypt", KEY, &[], ID),
                ("kms:Decrypt", KEY, &[("kms:ViaService", &["s3.eu-west-1.amazonaws.com"])], ID),
                ("kms:Decrypt", KEY, &[("kms:ViaService", &["SecretsManager.eu-west-1.amazonaws.com"])], ID),
            ],
        ),
        case(
            "a key's values are ORed",
            one(vec![with_cond(
                allow(&["kms:Decrypt"], &["*"]),
                "StringEquals",
                "kms:ViaService",
                &["a.amazonaws.com", "b.amazonaws.com"],
            )]),
            &[
                ("kms:Decrypt", "k", &[("kms:ViaService", &["b.amazonaws.com"])], A),
                ("kms:Decrypt", "k", &[("kms:ViaService", &["c.amazonaws.com"])], ID),
            ],
        ),
        case(
            "keys and operators are ANDed",
            one(vec![all_three]),
            &[
                ("s3:GetObject", "x", ALL_THREE, A),
                ("s3:GetObject", "x", &[("aws:PrincipalTag/team", &["red"]), ("aws:SecureTransport", &["true"])], ID),
                ("s3:GetObject", "x", &[("aws:PrincipalTag/team", &["red"]), ("aws:SecureTransport", &["false"]), ("aws:RequestedRegion", &["eu-west-1"])], ID),
            ],
        ),
        case(
            "StringNotEquals matches when the key is absent",
            one(vec![
                allow(&["s3:*"], &["*"]),
                with_cond(
                    deny(&["s3:*"], &["*"]),
                    "StringNotEquals",
                    "aws:RequestedRegion",
                    &["eu-west-1", "eu-central-1"],
                ),
            ]),
            &[
                ("s3:GetObject", "x", &[], XD),
                ("s3:GetObject", "x", &[("aws:RequestedRegion", &["us-east-1"])], XD),
                ("s3:GetObject", "x", &[("aws:RequestedRegion", &["eu-west-1"])], A),
                ("s3:GetObject", "x", &[("aws:RequestedRegion", &["eu-central-1"])], A),
            ],
        ),
        case(
            "StringEqualsIgnoreCase",
            one(vec![with_cond(
                allow(&["s3:*"], &["*"]),
                "StringEqualsIgnoreCase",
                "aws:PrincipalTag/Team",
                &["Red"],
            )]),
            &[
                ("s3:GetObject", "x", &[("aws:principaltag/team", &["RED"])], A),
                ("s3:GetObject", "x", &[("aws:principaltag/team", &["blue"])], ID),
            ],
        ),
        case(
            "StringNotEqualsIgnoreCase",
            one(vec![with_cond(allow(&["s3:*"], &["*"]), "StringNotEqualsIgnoreCase", "t", &["Red"])]),
            &[
                ("s3:GetObject", "x", &[("t", &["rED"])], ID),
                ("s3:GetObject", "x", &[("t", &["green"])], A),
            ],
        ),
        case(
            "StringLike",
            one(vec![with_cond(
                allow(&["s3:ListBucket"], &[bucket]),
                "StringLike",
                "s3:prefix",
                &["home/*", "shared/?"],
            )]),
            &[
                ("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", &["home/a/b"])], A),
                ("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", &["shared/x"])], A),
                ("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", &["shared/xy"])], ID),
                ("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", &["Home/a"])], ID),
                ("s3:ListBucket", "arn:aws:s3:::b", &[], ID),
            ],
        ),
        case(
            "StringNotLike",
            one(vec![with_cond(
                allow(&["s3:ListBucket"], &[bucket]),
                "StringNotLike",
                "s3:prefix",
                &["private/*"],
            )]),
            &[
                ("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", &["private/x"])], ID),
                ("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", &["public/x"])], A),
                ("s3:ListBucket", "arn:aws:s3:::b", &[], A),
            ],
        ),
        case(
            "StringEquals treats wildcards literally",
            one(vec![with_cond(allow(&["s3:*"], &["*"]), "StringEquals", "s3:prefix", &["home/*"])]),
            &[
                ("s3:ListBucket", "x", &[("s3:prefix", &["home/a"])], ID),
                ("s3:ListBucket", "x", &[("s3:prefix", &["home/*"])], A),
            ],
        ),
        case(
            "a policy variable in a StringLike value",
            one(vec![with_cond(
                allow(&["s3:ListBucket"], &["*"]),
                "StringLike",
                "s3:prefix",
                &["home/${aws:username}/*"],
            )]),
            &[
                ("s3:ListBucket", "x", &[("aws:username", &["alice"]), ("s3:prefix", &["home/alice/docs"])], A),
                ("s3:ListBucket", "x", &[("aws:username", &["bob"]), ("s3:prefix", &["home/alice/docs"])], ID),
                ("s3:ListBucket", "x", &[("s3:prefix", &["home/alice/docs"])], ID),
            ],
        ),
        case(
            "a policy variable in a StringEquals value",
            one(vec![with_cond(
                allow(&["s3:*"], &["*"]),
                "StringEquals",
                "aws:PrincipalTag/owner",
                &["${aws:username}"],
            )]),
            &[
                ("s3:GetObject", "x", &[("aws:username", &["al"]), ("aws:PrincipalTag/owner", &["al"])], A),
                ("s3:GetObject", "x", &[("aws:username", &["al"]), ("aws:PrincipalTag/owner", &["bo"])], ID),
            ],
        ),
        case(
            "a negated operator with an unresolvable variable fails closed: Allow",
            one(vec![with_cond(
                allow(&["s3:*"], &["*"]),
                "StringNotEquals",
                "aws:PrincipalTag/owner",
                &["${aws:username}"],
            )]),
            &[("s3:GetObject", "x", OWNER_X, ID)],
        ),
        case(
            "a negated operator with an unresolvable variable fails closed: Deny",
            one(vec![
                allow(&["s3:*"], &["*"]),
                with_cond(
                    deny(&["s3:*"], &["*"]),
                    "StringNotEquals",
                    "aws:PrincipalTag/owner",
                    &["${aws:username}"],
                ),
            ]),
            &[("s3:GetObject", "x", OWNER_X, XD)],
        ),
    ];
    run(cases);
}

// ----- conditions: IfExists, Null, set qualifiers -----

#[test]
fn presence_and_set_qualifiers() {
    const ISSUED: Ctx = &[("aws:tokenissuetime", &["2024-01-01T00:00:00Z"])];
    let cond = |op: &str, key: &str, values: &[&str]| {
        one(vec![with_cond(allow(&["*"], &["*"]), op, key, values)])
    };
    #[rustfmt::skip]
    let cases = vec![
        case(
            "IfExists matches when the key is absent: StringEqualsIfExists",
            one(vec![with_cond(
                allow(&["ec2:RunInstances"], &["*"]),
                "StringEqualsIfExists",
                "ec2:InstanceType",
                &["t3.micro"],
            )]),
            &[
                ("ec2:RunInstances", "x", &[], A),
                ("ec2:RunInstances", "x", &[("ec2:InstanceType", &["t3.micro"])], A),
                ("ec2:RunInstances", "x", &[("ec2:InstanceType", &["m5.large"])], ID),
            ],
        ),
        case(
            "IfExists matches when the key is absent: NumericLessThanIfExists",
            cond("NumericLessThanIfExists", "s3:max-keys", &["10"]),
            &[
                ("s3:ListBucket", "x", &[], A),
                ("s3:ListBucket", "x", &[("s3:max-keys", &["50"])], ID),
            ],
        ),
        case(
            "Null true: the key must be absent (an empty list counts as absent)",
            cond("Null", "aws:TokenIssueTime", &["true"]),
            &[
                ("s3:GetObject", "x", &[], A),
                ("s3:GetObject", "x", ISSUED, ID),
                ("s3:GetObject", "x", &[("aws:TokenIssueTime", &[])], A),
            ],
        ),
        case(
            "Null false: the key must be present",
            cond("Null", "aws:TokenIssueTime", &["false"]),
            &[
                ("s3:GetObject", "x", &[], ID),
                ("s3:GetObject", "x", ISSUED, A),
            ],
        ),
        case(
            "NullIfExists is unsupported",
            cond("NullIfExists", "k", &["true"]),
            &[("s3:GetObject", "x", &[], ID)],
        )
        .linted(&["NullIfExists"]),
        case(
            "ForAnyValue",
            cond("ForAnyValue:StringEquals", "aws:TagKeys", &["env", "team"]),
            &[
                ("tag:TagResources", "x", &[("aws:TagKeys", &["cost", "team"])], A),
                ("tag:TagResources", "x", &[("aws:TagKeys", &["cost", "owner"])], ID),
                ("tag:TagResources", "x", &[], ID),
            ],
        ),
        case(
            "ForAnyValue with IfExists",
            cond("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", &["env"]),
            &[("tag:TagResources", "x", &[], A)],
        ),
        case(
            "ForAnyValue with a negated operator",
            cond("ForAnyValue:StringNotEquals", "aws:TagKeys", &["env"]),
            &[
                ("tag:TagResources", "x", &[("aws:TagKeys", &["env", "x"])], A),
                ("tag:TagResources", "x", &[("aws:TagKeys", &["env"])], ID),
                ("tag:TagResources", "x", &[], ID),
            ],
        ),
        case(
            "ForAllValues: vacuously true for an absent or empty key, which lint warns of",
            cond("ForAllValues:StringLike", "aws:TagKeys", &["env", "team-*"]),
            &[
                ("tag:TagResources", "x", &[("aws:TagKeys", &["env", "team-a"])], A),
                ("tag:TagResources", "x", &[("aws:TagKeys", &["env", "cost"])], ID),
                ("tag:TagResources", "x", &[], A),
                ("tag:TagResources", "x", &[("aws:TagKeys", &[])], A),
            ],
        )
        .linted(&["ForAllValues"]),
        case(
            "ForAllValues with a negated operator in a Deny",
            allow_all_but(with_cond(
                deny(&["*"], &["*"]),
                "ForAllValues:StringNotEquals",
                "aws:TagKeys",
                &["secret"],
            )),
            &[
                ("tag:TagResources", "x", &[("aws:TagKeys", &["a", "b"])], XD),
                ("tag:TagResources", "x", &[("aws:TagKeys", &["a", "secret"])], A),
            ],
        ),
        case(
            "a plain operator on a multivalued key: any value",
            cond("StringEquals", "k", &["a"]),
            &[("s3:X", "x", &[("k", &["b", "a"])], A)],
        ),
        case(
            "a plain negated operator on a multivalued key: every value",
            cond("StringNotEquals", "k", &["a"]),
            &[
                ("s3:X", "x", &[("k", &["b", "a"])], ID),
                ("s3:X", "x", &[("k", &["b", "c"])], A),
            ],
        ),
    ];
    run(cases);
}

// ----- conditions: ARN, Bool, Numeric, Date, IP -----

#[test]
fn typed_operators() {
    const MAX_KEYS_10: Ctx = &[("s3:max-keys", &["10"])];
    const K_1: Ctx = &[("k", &["1"])];
    const JAN_1: Ctx = &[("k", &["2020-01-01T00:00:00Z"])];
    let cond = |op: &str, key: &str, values: &[&str]| {
        one(vec![with_cond(allow(&["*"], &["*"]), op, key, values)])
    };
    let deny_when = |op: &str, key: &str, values: &[&str]| {
        allow_all_but(with_cond(deny(&["*"], &["*"]), op, key, values))
    };
    let s3_deny_when = |op: &str, key: &str, values: &[&str]| {
        one(vec![
            allow(&["s3:*"], &["*"]),
            with_cond(deny(&["s3:*"], &["*"]), op, key, values),
        ])
    };
    let numeric = |op: &str, value: &str| cond(op, "s3:max-keys", &[value]);
    #[rustfmt::skip]
    let mut cases = vec![
        case(
            "ArnLike matches per segment",
            cond("ArnLike", "aws:SourceArn", &["arn:aws:sns:*:123456789012:topic-*"]),
            &[
                ("sqs:SendMessage", "q", &[("aws:SourceArn", &["arn:aws:sns:eu-west-1:123456789012:topic-a"])], A),
                ("sqs:SendMessage", "q", &[("aws:SourceArn", &["arn:aws:sns:eu-west-1:123456789012:topic-a:sub"])], A),
                // `*` in the region segment must not swallow the account segment.
                ("sqs:SendMessage", "q", &[("aws:SourceArn", &["arn:aws:sns:eu-west-1:x:999999999999:topic-a"])], ID),
                ("sqs:SendMessage", "q", &[("aws:SourceArn", &["arn:aws:sns:eu-west-1:999999999999:topic-a"])], ID),
                ("sqs:SendMessage", "q", &[("aws:SourceArn", &["arn:aws:sqs:eu-west-1:123456789012:topic-a"])], ID),
                ("sqs:SendMessage", "q", &[("aws:SourceArn", &["not-an-arn"])], ID),
                ("sqs:SendMessage", "q", &[], ID),
            ],
        ),
        case(
            "ArnEquals takes the same wildcards",
            cond("ArnEquals", "aws:SourceArn", &["arn:aws:s3:::b*"]),
            &[
                ("s3:X", "x", &[("aws:SourceArn", &["arn:aws:s3:::bucket"])], A),
                ("s3:X", "x", &[("aws:SourceArn", &["arn:aws:s3:::c"])], ID),
            ],
        ),
        case(
            "ArnNotLike",
            deny_when("ArnNotLike", "aws:SourceArn", &["arn:aws:sns:*:1:*"]),
            &[
                ("s3:X", "x", &[("aws:SourceArn", &["arn:aws:sns:r:1:t"])], A),
                ("s3:X", "x", &[("aws:SourceArn", &["arn:aws:sns:r:2:t"])], XD),
                ("s3:X", "x", &[], XD),
            ],
        ),
        case(
            "an ARN pattern of fewer than six parts fails closed",
            cond("ArnLike", "aws:SourceArn", &["arn:aws:*"]),
            &[("s3:X", "x", &[("aws:SourceArn", &["arn:aws:s3:::b"])], ID)],
        )
        .linted(&["not an ARN pattern"]),
        case(
            "Bool: an absent key does not match, so this Deny does not apply",
            s3_deny_when("Bool", "aws:SecureTransport", &["false"]),
            &[
                ("s3:GetObject", "x", &[("aws:SecureTransport", &["false"])], XD),
                ("s3:GetObject", "x", &[("aws:SecureTransport", &["FALSE"])], XD),
                ("s3:GetObject", "x", &[("aws:SecureTransport", &["true"])], A),
                ("s3:GetObject", "x", &[], A),
            ],
        ),
        case(
            "BoolIfExists applies when the key is absent",
            s3_deny_when("BoolIfExists", "aws:SecureTransport", &["false"]),
            &[("s3:GetObject", "x", &[], XD)],
        ),
        case(
            "NumericEquals",
            numeric("NumericEquals", "10"),
            &[
                ("s3:ListBucket", "x", MAX_KEYS_10, A),
                ("s3:ListBucket", "x", &[("s3:max-keys", &["10.0"])], A),
                ("s3:ListBucket", "x", &[("s3:max-keys", &["11"])], ID),
            ],
        ),
        case(
            "NumericNotEquals",
            numeric("NumericNotEquals", "10"),
            &[
                ("s3:ListBucket", "x", &[("s3:max-keys", &["11"])], A),
                ("s3:ListBucket", "x", MAX_KEYS_10, ID),
            ],
        ),
        case(
            "NumericLessThan",
            numeric("NumericLessThan", "10"),
            &[
                ("s3:ListBucket", "x", &[("s3:max-keys", &["9"])], A),
                ("s3:ListBucket", "x", MAX_KEYS_10, ID),
                ("s3:ListBucket", "x", &[("s3:max-keys", &["abc"])], ID),
            ],
        ),
        case(
            "NumericLessThanEquals",
            numeric("NumericLessThanEquals", "10"),
            &[
                ("s3:ListBucket", "x", MAX_KEYS_10, A),
                ("s3:ListBucket", "x", &[("s3:max-keys", &["10.5"])], ID),
            ],
        ),
        case(
            "NumericGreaterThan",
            numeric("NumericGreaterThan", "10"),
            &[
                ("s3:ListBucket", "x", &[("s3:max-keys", &["11"])], A),
                ("s3:ListBucket", "x", MAX_KEYS_10, ID),
            ],
        ),
        case(
            "NumericGreaterThanEquals",
            numeric("NumericGreaterThanEquals", "10"),
            &[("s3:ListBucket", "x", MAX_KEYS_10, A)],
        ),
        case(
            "NumericGreaterThanEquals, negative",
            numeric("NumericGreaterThanEquals", "-1.5"),
            &[("s3:ListBucket", "x", &[("s3:max-keys", &["-2"])], ID)],
        ),
        case(
            "NumericNotEquals matches an absent key",
            cond("NumericNotEquals", "k", &["1"]),
            &[("s3:X", "x", &[], A)],
        ),
        case(
            "NumericLessThan does not match an absent key",
            cond("NumericLessThan", "k", &["1"]),
            &[("s3:X", "x", &[], ID)],
        ),
        case(
            "a malformed numeric value fails closed: Allow",
            cond("NumericLessThan", "k", &["ten"]),
            &[("s3:X", "x", K_1, ID)],
        ),
        case(
            "a malformed numeric value fails closed: Deny",
            deny_when("NumericLessThan", "k", &["NaN"]),
            &[("s3:X", "x", K_1, XD)],
        )
        .linted(&["not a number"]),
        case(
            "DateLessThan, ISO 8601 and epoch",
            cond("DateLessThan", "aws:CurrentTime", &["2024-06-01T00:00:00Z"]),
            &[
                ("s3:X", "x", &[("aws:CurrentTime", &["2024-05-31T23:59:59Z"])], A),
                ("s3:X", "x", &[("aws:CurrentTime", &["2024-06-01T00:00:00Z"])], ID),
                // 23:00Z
                ("s3:X", "x", &[("aws:CurrentTime", &["2024-06-01T01:00:00+02:00"])], A),
                // 2024-05-31T23:59:59Z
                ("s3:X", "x", &[("aws:CurrentTime", &["1717199999"])], A),
                ("s3:X", "x", &[("aws:CurrentTime", &["1717200000"])], ID),
                ("s3:X", "x", &[("aws:CurrentTime", &["2024-05-31"])], A),
                ("s3:X", "x", &[("aws:CurrentTime", &["garbage"])], ID),
                ("s3:X", "x", &[], ID),
            ],
        ),
        case(
            "DateEquals",
            cond("DateEquals", "aws:EpochTime", &["1717200000"]),
            &[
                ("s3:X", "x", &[("aws:EpochTime", &["2024-06-01T00:00:00.000Z"])], A),
                ("s3:X", "x", &[("aws:EpochTime", &["2024-06-01T00:00:00.001Z"])], ID),
            ],
        ),
        case(
            "DateGreaterThanEquals",
            cond("DateGreaterThanEquals", "aws:CurrentTime", &["2020-02-29"]),
            &[
                ("s3:X", "x", &[("aws:CurrentTime", &["2020-02-29T00:00:00Z"])], A),
                ("s3:X", "x", &[("aws:CurrentTime", &["2020-02-28T23:59:59Z"])], ID),
            ],
        ),
        case(
            "DateNotEquals",
            cond("DateNotEquals", "aws:CurrentTime", &["2020-01-01T00:00:00Z"]),
            &[
                ("s3:X", "x", &[("aws:CurrentTime", &["2020-01-01T00:00:00Z"])], ID),
                ("s3:X", "x", &[("aws:CurrentTime", &["2020-01-01T00:00:01Z"])], A),
            ],
        ),
        case(
            "DateGreaterThan",
            cond("DateGreaterThan", "k", &["2020-01-01T00:00:00Z"]),
            &[("s3:X", "x", JAN_1, ID)],
        ),
        case(
            "DateLessThanEquals",
            cond("DateLessThanEquals", "k", &["2020-01-01T00:00:00Z"]),
            &[("s3:X", "x", JAN_1, A)],
        ),
        case(
            "IpAddress, IPv4 and IPv6",
            cond("IpAddress", "aws:SourceIp", &["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]),
            &[
                ("s3:X", "x", &[("aws:SourceIp", &["203.0.113.0"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["203.0.113.255"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["203.0.114.1"])], ID),
                ("s3:X", "x", &[("aws:SourceIp", &["198.51.100.7"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["198.51.100.8"])], ID),
                ("s3:X", "x", &[("aws:SourceIp", &["2001:db8:1::5"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["2001:DB8::1"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["2001:db9::1"])], ID),
                ("s3:X", "x", &[("aws:SourceIp", &["not-an-ip"])], ID),
                ("s3:X", "x", &[], ID),
            ],
        ),
        case(
            "NotIpAddress",
            deny_when("NotIpAddress", "aws:SourceIp", &["10.0.0.0/8"]),
            &[
                ("s3:X", "x", &[("aws:SourceIp", &["10.1.2.3"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["11.1.2.3"])], XD),
                ("s3:X", "x", &[], XD),
            ],
        ),
        case(
            "0.0.0.0/0 is every IPv4 address and no IPv6 one",
            cond("IpAddress", "aws:SourceIp", &["0.0.0.0/0"]),
            &[
                ("s3:X", "x", &[("aws:SourceIp", &["8.8.8.8"])], A),
                ("s3:X", "x", &[("aws:SourceIp", &["::1"])], ID),
            ],
        ),
    ];
    for bad in [
        "10.0.0.0/33",
        "10.0.0/8",
        "2001:db8::/129",
        "10.0.0.0/",
        "10.0.0.0/-1",
    ] {
        cases.push(
            case(
                "a malformed CIDR fails closed",
                cond("IpAddress", "aws:SourceIp", &[bad]),
                &[("s3:X", "x", &[("aws:SourceIp", &["10.0.0.1"])], ID)],
            )
            .linted(&[""]),
        );
    }
    run(cases);
}

// ----- operators the evaluator cannot evaluate -----

#[test]
fn unknown_operators_fail_closed() {
    const K_V: Ctx = &[("k", &["v"])];
    #[rustfmt::skip]
    let cases = vec![
        case(
            "an unknown operator never widens access: Allow",
            one(vec![with_cond(allow(&["*"], &["*"]), "StringFancyEquals", "k", &["v"])]),
            &[("s3:X", "x", K_V, ID), ("s3:X", "x", &[], ID)],
        )
        .linted(&["StringFancyEquals"]),
        case(
            "an unknown operator never widens access: Deny",
            allow_all_but(with_cond(deny(&["*"], &["*"]), "BinaryEquals", "k", &["dg=="])),
            &[("s3:X", "x", &[], XD)],
        )
        .linted(&["BinaryEquals"]),
        case(
            "the Deny still needs its action and resource to match",
            allow_all_but(with_cond(deny(&["iam:*"], &["*"]), "Whatever", "k", &["v"])),
            &[("s3:X", "x", &[], A), ("iam:CreateUser", "x", &[], XD)],
        ),
        case(
            "a definitely-false operator still prevents the Deny from applying",
            allow_all_but(with_cond(
                with_cond(deny(&["*"], &["*"]), "Whatever", "k", &["v"]),
                "StringEquals",
                "j",
                &["yes"],
            )),
            &[
                ("s3:X", "x", &[("j", &["no"])], A),
                ("s3:X", "x", &[("j", &["yes"])], XD),
            ],
        ),
        case(
            "operator names are case-sensitive",
            one(vec![with_cond(allow(&["*"], &["*"]), "stringequals", "k", &["v"])]),
            &[("s3:X", "x", K_V, ID)],
        )
        .linted(&[""]),
        case(
            "an empty value list fails closed",
            one(vec![with_cond(allow(&["*"], &["*"]), "StringNotEquals", "k", &[])]),
            &[("s3:X", "x", K_V, ID)],
        )
        .linted(&["no values"]),
    ];
    run(cases);
}

// ----- lint -----

#[test]
fn lint_messages() {
    let clean = doc(vec![
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
    let structural = doc(vec![
        without_resource(without_action(allow(&["s3:GetObject"], &["*"]))),
        allow(&["GetObject"], &["${aws:username"]),
    ]);
    // (document, texts some message contains; none: lint is quiet)
    let table: [(PolicyDocument, &[&str]); 4] = [
        (clean, &[]),
        (
            structural.clone(),
            &[
                "neither Action nor NotAction",
                "neither Resource nor NotResource",
                "service:Action",
                "unterminated",
            ],
        ),
        (version(structural.clone(), "2008-10-17"), &["literal text"]),
        (
            version(structural, "2099-01-01"),
            &["unknown policy Version"],
        ),
    ];
    for (i, (d, texts)) in table.iter().enumerate() {
        let messages = lint(d);
        if texts.is_empty() {
            assert_eq!(messages, Vec::<String>::new(), "document {i}");
        }
        for text in texts.iter() {
            assert!(
                messages.iter().any(|m| m.contains(text)),
                "document {i}: no message contains {text:?}: {messages:?}"
            );
        }
    }
}

// ----- random properties -----

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
