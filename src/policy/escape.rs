//! Escaping of literal resource names for use inside policy `Resource` strings.
//!
//! In policy grammar version 2012-10-17, IAM treats `*` and `?` in a Resource as wildcards and
//! `${...}` as a policy variable. A resource name observed in CloudTrail is a literal, so before it
//! is written into a policy every special character must be escaped with the policy-variable
//! escapes IAM defines for exactly this purpose: `${*}`, `${?}` and `${$}`.
//!
//! These escapes only mean something in documents with `"Version": "2012-10-17"` (which is what
//! [`super::document::PolicyDocument::new`] writes); in older grammars `${...}` is literal text.
//! What the escapes mean is [`super::pattern`]'s (the Resource grammar); this module writes them.

use super::pattern::{leading_escape, needs_escape, write_escaped, Tok};

/// Make a literal resource name safe inside a policy Resource: IAM (policy Version 2012-10-17)
/// treats `*` and `?` as wildcards and `${...}` as a policy variable, so write `*` as `${*}`, `?`
/// as `${?}` and `$` as `${$}`. Other characters unchanged.
pub fn escape_literal(name: &str) -> String {
    write_escaped(name.chars().map(Tok::Lit))
}

/// True when `name` contains no character that [`escape_literal`] would rewrite, i.e. it can be
/// written into a policy as is.
pub fn is_plain_literal(name: &str) -> bool {
    !name.chars().any(needs_escape)
}

/// The inverse of [`escape_literal`]: `${*}`, `${?}` and `${$}` become `*`, `?` and `$`, scanning
/// left to right; anything else (deliberate wildcards, policy variables) is left as it is.
///
/// This is a textual undo, not the Resource grammar: it also rewrites an escape inside a policy
/// variable's default (`${k, '${*}'}`), which [`super::pattern`] reads as part of the variable. On
/// what [`escape_literal`] writes the two agree.
pub fn unescape_literal(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        match leading_escape(&rest[pos..]) {
            Some(c) => {
                out.push(c);
                // `${`, the character and `}`: four bytes.
                rest = &rest[pos + 4..];
            }
            None => {
                out.push('$');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::{PolicyDocument, Statement};
    use crate::policy::eval::{evaluate, Context, Decision, Request};

    fn allows(resource_pattern: &str, resource: &str) -> bool {
        let doc = PolicyDocument::new(vec![Statement::allow(
            vec!["s3:GetObject".into()],
            vec![resource_pattern.into()],
        )]);
        let ctx = Context::new();
        let req = Request {
            action: "s3:GetObject",
            resource,
            context: &ctx,
        };
        evaluate(&[doc], &req) == Decision::Allow
    }

    #[test]
    fn plain_names_are_unchanged() {
        assert_eq!(escape_literal("my-bucket/a/b.txt"), "my-bucket/a/b.txt");
        assert_eq!(escape_literal(""), "");
        assert_eq!(escape_literal("ünïcödé/ключ"), "ünïcödé/ключ");
        assert!(is_plain_literal("my-bucket/a/b.txt"));
    }

    #[test]
    fn special_characters_are_escaped() {
        assert_eq!(escape_literal("*"), "${*}");
        assert_eq!(escape_literal("?"), "${?}");
        assert_eq!(escape_literal("$"), "${$}");
        assert_eq!(escape_literal("a*b?c$d"), "a${*}b${?}c${$}d");
        assert!(!is_plain_literal("a*b"));
        assert!(!is_plain_literal("a?b"));
        assert!(!is_plain_literal("a$b"));
    }

    #[test]
    fn unescape_inverts_escape() {
        assert_eq!(unescape_literal("a${*}b${?}c${$}d"), "a*b?c$d");
        assert_eq!(unescape_literal("${$}{*}"), "${*}");
        assert_eq!(
            unescape_literal("b/${aws:username}/*"),
            "b/${aws:username}/*"
        );
        assert_eq!(unescape_literal("${"), "${");
        assert_eq!(unescape_literal("$${*}"), "$*");
        assert_eq!(unescape_literal("plain"), "plain");
        // Round trip over pseudo-random strings built from the tricky characters.
        let alphabet = ['$', '{', '}', '*', '?', 'a', '/', 'é'];
        let mut seed: u64 = 12345;
        for _ in 0..2000 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let len = (seed >> 60) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 3 + 5)) & 7) as usize])
                .collect();
            let e = escape_literal(&s);
            assert_eq!(unescape_literal(&e), s, "escaped {e:?}");
            assert!(is_plain_literal(&s) || e != s);
        }
    }

    #[test]
    fn a_policy_variable_lookalike_becomes_literal() {
        // `${aws:username}` in an object key must not be expanded by IAM.
        assert_eq!(escape_literal("${aws:username}"), "${$}{aws:username}");
        assert!(allows(
            &format!("arn:aws:s3:::b/{}", escape_literal("${aws:username}")),
            "arn:aws:s3:::b/${aws:username}"
        ));
        assert!(!allows(
            &format!("arn:aws:s3:::b/{}", escape_literal("${aws:username}")),
            "arn:aws:s3:::b/alice"
        ));
    }

    #[test]
    fn escaped_star_matches_only_the_literal_star() {
        let pattern = format!("arn:aws:s3:::b/{}", escape_literal("*"));
        assert_eq!(pattern, "arn:aws:s3:::b/${*}");
        assert!(allows(&pattern, "arn:aws:s3:::b/*"));
        assert!(!allows(&pattern, "arn:aws:s3:::b/x"));
        assert!(!allows(&pattern, "arn:aws:s3:::b/"));
        // The unescaped form is a wildcard and would match both.
        assert!(allows("arn:aws:s3:::b/*", "arn:aws:s3:::b/x"));
    }

    #[test]
    fn escaped_question_mark_matches_only_itself() {
        let pattern = format!("arn:aws:s3:::b/{}", escape_literal("what?.txt"));
        assert!(allows(&pattern, "arn:aws:s3:::b/what?.txt"));
        assert!(!allows(&pattern, "arn:aws:s3:::b/whatX.txt"));
    }

    #[test]
    fn escaped_names_round_trip_through_the_evaluator() {
        let names = [
            "plain",
            "a*b",
            "**",
            "?",
            "$",
            "$$",
            "${",
            "${}",
            "}{$",
            "a/b*/c?/$d",
            "${*}",
            "'quoted', '${x, 'y'}'",
        ];
        for name in names {
            let pattern = format!("arn:aws:s3:::b/{}", escape_literal(name));
            let resource = format!("arn:aws:s3:::b/{name}");
            assert!(allows(&pattern, &resource), "{name} should match itself");
            for other in names.iter().filter(|o| **o != name) {
                let other_resource = format!("arn:aws:s3:::b/{other}");
                assert!(
                    !allows(&pattern, &other_resource),
                    "escaped {name} must not match {other}"
                );
            }
        }
    }
}
