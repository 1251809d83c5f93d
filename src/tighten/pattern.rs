//! Whether one Resource pattern covers another: every ARN the narrow pattern matches is matched by
//! the wide one. The evaluator answers for one concrete ARN; proposals hold wildcards
//! (`bucket/uploads/*`), so comparing grants needs pattern-against-pattern containment.
//!
//! The test is sound, not complete: a `*` of the wide pattern absorbs any run of the narrow one's
//! pieces, a `?` one literal or `?`, a literal only the same literal. "Covers" is therefore never
//! claimed wrongly; an exotic pair it cannot prove (`a*` vs `a?*` order games) counts as not
//! covered, which errs on the side of refusing.

use crate::policy::eval::VARIABLES_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    One,
}

/// Pieces of a Resource pattern. With `"Version": "2012-10-17"`, `${*}`, `${?}`, `${$}` are the
/// literal characters; any other `${...}` is a policy variable, which depends on the request:
/// `None` (nothing can be proven about it).
fn tokens(pattern: &str, version: &str) -> Option<Vec<Tok>> {
    let vars = version == VARIABLES_VERSION;
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if vars && rest.starts_with("${") {
            let end = rest.find('}')?;
            match &rest[2..end] {
                "*" => out.push(Tok::Lit('*')),
                "?" => out.push(Tok::Lit('?')),
                "$" => out.push(Tok::Lit('$')),
                _ => return None,
            }
            rest = &rest[end + 1..];
            continue;
        }
        out.push(match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// True when `wide` (from a document of `wide_version`) matches every resource `narrow` (from a
/// document of `narrow_version`) matches.
pub fn covers(wide: &str, wide_version: &str, narrow: &str, narrow_version: &str) -> bool {
    if wide == "*" {
        return true;
    }
    let (Some(w), Some(n)) = (tokens(wide, wide_version), tokens(narrow, narrow_version)) else {
        return false;
    };
    // reach[j]: the first i pieces of `wide` can absorb the first j pieces of `narrow`.
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    for wt in &w {
        let mut next = vec![false; n.len() + 1];
        match wt {
            Tok::Star => {
                let mut any = false;
                for j in 0..=n.len() {
                    any |= reach[j];
                    next[j] = any;
                }
            }
            Tok::One => {
                for j in 0..n.len() {
                    if reach[j] && matches!(n[j], Tok::Lit(_) | Tok::One) {
                        next[j + 1] = true;
                    }
                }
            }
            Tok::Lit(c) => {
                for j in 0..n.len() {
                    if reach[j] && n[j] == Tok::Lit(*c) {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[n.len()]
}

/// True when the pattern holds a wildcard (so one evaluator request cannot stand for it).
pub fn has_wildcard(pattern: &str, version: &str) -> bool {
    match tokens(pattern, version) {
        Some(t) => t.iter().any(|t| matches!(t, Tok::Star | Tok::One)),
        None => true,
    }
}

/// The pattern as one concrete resource string: escapes resolved, wildcards left as characters.
/// For a pattern without wildcards this is exactly the ARN it matches.
pub fn as_text(pattern: &str, version: &str) -> String {
    match tokens(pattern, version) {
        Some(t) => t
            .iter()
            .map(|t| match t {
                Tok::Lit(c) => *c,
                Tok::Star => '*',
                Tok::One => '?',
            })
            .collect(),
        None => pattern.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const V: &str = VARIABLES_VERSION;

    #[test]
    fn wider_prefixes_cover_narrower_ones_and_not_the_reverse() {
        assert!(covers("*", V, "arn:aws:s3:::b/uploads/*", V));
        assert!(covers("arn:aws:s3:::*", V, "arn:aws:s3:::b/uploads/*", V));
        assert!(covers("arn:aws:s3:::b/*", V, "arn:aws:s3:::b/uploads/*", V));
        assert!(!covers(
            "arn:aws:s3:::b/uploads/*",
            V,
            "arn:aws:s3:::b/*",
            V
        ));
        assert!(covers("arn:aws:s3:::b/k", V, "arn:aws:s3:::b/k", V));
        assert!(!covers("arn:aws:s3:::b/k", V, "arn:aws:s3:::b/*", V));
    }

    #[test]
    fn a_question_mark_never_stands_for_a_run() {
        assert!(!covers("arn:aws:s3:::b/?", V, "arn:aws:s3:::b/*", V));
        assert!(covers("arn:aws:s3:::b/?", V, "arn:aws:s3:::b/x", V));
        assert!(covers("arn:aws:s3:::b/*", V, "arn:aws:s3:::b/?", V));
    }

    #[test]
    fn escaped_stars_are_literals_and_variables_prove_nothing() {
        // A literal '*' in a name does not cover the names a wildcard would.
        assert!(!covers("arn:aws:s3:::b/${*}", V, "arn:aws:s3:::b/*", V));
        assert!(covers("arn:aws:s3:::b/*", V, "arn:aws:s3:::b/${*}", V));
        assert!(!covers(
            "arn:aws:s3:::b/${aws:username}/*",
            V,
            "arn:aws:s3:::b/x/*",
            V
        ));
        // In the 2008 grammar `${*}` is plain text: a '$', '{', wildcard, '}'.
        assert!(covers(
            "arn:aws:s3:::b/${*}",
            "2008-10-17",
            "arn:aws:s3:::b/${abc}",
            "2008-10-17"
        ));
        assert_eq!(as_text("arn:aws:s3:::b/${*}x*", V), "arn:aws:s3:::b/*x*");
        assert!(has_wildcard("arn:aws:s3:::b/${*}x*", V));
        assert!(!has_wildcard("arn:aws:s3:::b/${*}x", V));
    }
}
