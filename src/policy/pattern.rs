//! Resource patterns: the one implementation of the grammar IAM reads in a `Resource` (and in the
//! values of the `StringLike` and `ArnLike` conditions). The evaluator matches requests with it,
//! `tighten` compares grants with it (does one pattern cover every resource another matches), and
//! [`super::escape`] writes literal names in it.
//!
//! * `*` matches any run of characters (including `/` and `:`), `?` exactly one character;
//!   anything else matches itself, case-sensitively.
//! * With `"Version": "2012-10-17"` ([`VARIABLES_VERSION`]), `${*}`, `${?}`, `${$}` are the
//!   literal characters `*`, `?`, `$` (the escapes), and any other `${key}` /
//!   `${key, 'default'}` is a policy variable resolved from the request context. A variable that
//!   cannot be resolved, or malformed variable syntax, makes the pattern match nothing.
//! * Other versions treat `${...}` as literal text (its `*` and `?` are still wildcards).
//!
//! A pattern is parsed once into [`Piece`]s (which do not depend on the request), then resolved
//! against a request's context into [`Tok`]s: literal characters and wildcards, which are matched
//! against resources, compared with other patterns, or written back as text.

use super::context::{lookup, Context};
use std::collections::HashSet;

/// The only policy grammar version in which policy variables (and their escapes) are recognised.
pub const VARIABLES_VERSION: &str = "2012-10-17";

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
pub(super) fn resource_match(
    pattern: &str,
    resource: &str,
    vars: bool,
    ctx: &Context,
) -> Option<bool> {
    let toks = resolve(&parse_pieces(pattern, vars, true), ctx)?;
    let text: Vec<char> = resource.chars().collect();
    Some(glob_match(&toks, &text))
}

// ---------------------------------------------------------------------------------------------
// Wildcards
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok {
    Lit(char),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
}

/// Greedy two-pointer wildcard matcher with single-star backtracking: O(|pattern|·|text|) worst
/// case, linear in the common cases, never exponential.
pub(super) fn glob_match(pat: &[Tok], text: &[char]) -> bool {
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

/// One character of a pattern: `*` and `?` are wildcards if `wildcards` (Resource, StringLike,
/// ArnLike, Action), literal characters otherwise.
fn tok(c: char, wildcards: bool) -> Tok {
    match c {
        '*' if wildcards => Tok::Star,
        '?' if wildcards => Tok::One,
        c => Tok::Lit(c),
    }
}

/// A pattern without policy variables (an Action, or any pattern of a 2008-10-17 document).
pub(super) fn literal_or_wild(s: &str, wildcards: bool) -> Vec<Tok> {
    s.chars().map(|c| tok(c, wildcards)).collect()
}

// ---------------------------------------------------------------------------------------------
// Policy variables and escapes
// ---------------------------------------------------------------------------------------------

/// A parsed piece of a policy string, before the context is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
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
pub(super) fn parse_pieces(s: &str, vars: bool, wildcards: bool) -> Vec<Piece> {
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
        out.push(Piece::Tok(tok(c, wildcards)));
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

/// The body of a `${...}`: an escape, a variable, or malformed.
fn parse_variable(inner: &str) -> Piece {
    if let Some(c) = escaped(inner) {
        return Piece::Tok(Tok::Lit(c));
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

/// `*`, `?` and `$`: the characters a Version 2012-10-17 pattern cannot hold as themselves (`*`
/// and `?` are wildcards, `$` may open a policy variable). Each is written `${c}` instead.
pub(super) fn needs_escape(c: char) -> bool {
    matches!(c, '*' | '?' | '$')
}

/// The character the body of an escape `${c}` stands for: `c`, when the body is exactly one
/// character that [`needs_escape`].
fn escaped(inner: &str) -> Option<char> {
    let mut chars = inner.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if needs_escape(c) => Some(c),
        _ => None,
    }
}

/// The character an escape at the very start of `s` stands for (`*` for `${*}`...).
pub(super) fn leading_escape(s: &str) -> Option<char> {
    let mut chars = s.strip_prefix("${")?.chars();
    match (chars.next(), chars.next()) {
        (Some(c), Some('}')) if needs_escape(c) => Some(c),
        _ => None,
    }
}

/// Tokens written as a Version 2012-10-17 pattern: wildcards as `*` and `?`, the literal
/// characters that [`needs_escape`] as their escapes. [`parse_pieces`] reads it back as the same
/// tokens.
pub(super) fn write_escaped(toks: impl IntoIterator<Item = Tok>) -> String {
    let toks = toks.into_iter();
    let mut out = String::with_capacity(toks.size_hint().0);
    for t in toks {
        match t {
            Tok::Star => out.push('*'),
            Tok::One => out.push('?'),
            Tok::Lit(c) if needs_escape(c) => {
                out.push_str("${");
                out.push(c);
                out.push('}');
            }
            Tok::Lit(c) => out.push(c),
        }
    }
    out
}

/// Resolve variables against the context. A substituted value is literal text (its `*` and `?`
/// are not wildcards). `None` when a variable has no single value and no default.
pub(super) fn resolve(pieces: &[Piece], ctx: &Context) -> Option<Vec<Tok>> {
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

/// The tokens as one string: wildcards as the characters `*` and `?`, literals as themselves.
pub(super) fn toks_to_string(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(c) => *c,
            Tok::Star => '*',
            Tok::One => '?',
        })
        .collect()
}

/// The literal characters a token sequence starts with: every text it matches starts with them.
pub(super) fn leading_literal(toks: &[Tok]) -> String {
    toks.iter()
        .map_while(|t| match t {
            Tok::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Sets of patterns
// ---------------------------------------------------------------------------------------------

/// Resolved patterns (StringLike values, a Resource list's entries without variables): the
/// literal ones by their text, the others with the literal text every match starts with (a KMS
/// grant may pin thousands of object ARNs in its context).
#[derive(Debug, Clone)]
pub(super) struct GlobSet {
    literal: HashSet<String>,
    patterns: Vec<(String, Vec<Tok>)>,
}

impl GlobSet {
    pub(super) fn new(resolved: &[Vec<Tok>]) -> Self {
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

    pub(super) fn any_match(&self, cv: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// Containment: one pattern against another
// ---------------------------------------------------------------------------------------------

/// The tokens of a pattern whose matches do not depend on the request. `None` when it holds a
/// policy variable (or malformed variable syntax): nothing can be proven about it.
fn fixed_tokens(pattern: &str, version: &str) -> Option<Vec<Tok>> {
    parse_pieces(pattern, version == VARIABLES_VERSION, true)
        .into_iter()
        .map(|piece| match piece {
            Piece::Tok(t) => Some(t),
            Piece::Var { .. } | Piece::Bad(_) => None,
        })
        .collect()
}

/// True when `wide` (from a document of `wide_version`) matches every resource `narrow` (from a
/// document of `narrow_version`) matches.
///
/// The test is sound, not complete: a `*` of the wide pattern absorbs any run of the narrow one's
/// tokens, a `?` one literal or `?`, a literal only the same literal. "Covers" is therefore never
/// claimed wrongly; an exotic pair it cannot prove (`a*` vs `a?*` order games), or a pattern with
/// a policy variable (which depends on the request), counts as not covered, which errs on the
/// side of refusing.
pub fn covers(wide: &str, wide_version: &str, narrow: &str, narrow_version: &str) -> bool {
    if wide == "*" {
        return true;
    }
    let (Some(w), Some(n)) = (
        fixed_tokens(wide, wide_version),
        fixed_tokens(narrow, narrow_version),
    ) else {
        return false;
    };
    // reach[j]: the first i tokens of `wide` can absorb the first j tokens of `narrow`.
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

/// True when the pattern holds a wildcard, or a policy variable (so one evaluator request cannot
/// stand for it).
pub fn has_wildcard(pattern: &str, version: &str) -> bool {
    match fixed_tokens(pattern, version) {
        Some(t) => t.iter().any(|t| matches!(t, Tok::Star | Tok::One)),
        None => true,
    }
}

/// The pattern as one concrete resource string: escapes resolved, wildcards left as characters
/// (a pattern with a policy variable as it is). For a pattern without wildcards this is exactly
/// the ARN it matches.
pub fn as_text(pattern: &str, version: &str) -> String {
    match fixed_tokens(pattern, version) {
        Some(t) => toks_to_string(&t),
        None => pattern.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::escape::{escape_literal, unescape_literal};
    use crate::policy::eval::{evaluate, Decision, Request};
    use crate::policy::testing::{allow, doc, Lcg};

    const V: &str = VARIABLES_VERSION;
    const V2008: &str = "2008-10-17";

    #[test]
    fn wildcards() {
        // (pattern, text, matches)
        let table = [
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("**", "abc", true),
            ("?", "", false),
            ("a*", "a", true),
            ("a*b", "a", false),
            ("*b", "abab", true),
            ("*b", "abba", false),
            ("é?", "éü", true),
        ];
        for (pattern, text, want) in table {
            assert_eq!(wildcard_match(pattern, text), want, "{pattern:?} {text:?}");
        }
    }

    #[test]
    fn resource_patterns() {
        // (pattern, version, resource, matches), in an empty context
        let table = [
            ("arn:aws:s3:::b/${*}", V, "arn:aws:s3:::b/*", true),
            ("arn:aws:s3:::b/${*}", V, "arn:aws:s3:::b/x", false),
        ];
        let none = Context::new();
        for (pattern, version, resource, want) in table {
            assert_eq!(
                resource_matches(pattern, resource, version, &none),
                want,
                "{pattern:?} {resource:?}"
            );
        }
    }

    #[test]
    fn containment() {
        // (wide, its version, narrow, its version, wide covers narrow)
        let table = [
            // Wider prefixes cover narrower ones, not the reverse.
            ("*", V, "arn:aws:s3:::b/uploads/*", V, true),
            ("arn:aws:s3:::*", V, "arn:aws:s3:::b/uploads/*", V, true),
            ("arn:aws:s3:::b/*", V, "arn:aws:s3:::b/uploads/*", V, true),
            ("arn:aws:s3:::b/uploads/*", V, "arn:aws:s3:::b/*", V, false),
            ("arn:aws:s3:::b/k", V, "arn:aws:s3:::b/k", V, true),
            ("arn:aws:s3:::b/k", V, "arn:aws:s3:::b/*", V, false),
            // A question mark never stands for a run.
            ("arn:aws:s3:::b/?", V, "arn:aws:s3:::b/*", V, false),
            ("arn:aws:s3:::b/?", V, "arn:aws:s3:::b/x", V, true),
            ("arn:aws:s3:::b/*", V, "arn:aws:s3:::b/?", V, true),
            // A literal '*' in a name does not cover the names a wildcard would.
            ("arn:aws:s3:::b/${*}", V, "arn:aws:s3:::b/*", V, false),
            ("arn:aws:s3:::b/*", V, "arn:aws:s3:::b/${*}", V, true),
            // Variables prove nothing.
            (
                "arn:aws:s3:::b/${aws:username}/*",
                V,
                "arn:aws:s3:::b/x/*",
                V,
                false,
            ),
            // In the 2008 grammar `${*}` is plain text: a '$', '{', wildcard, '}'.
            (
                "arn:aws:s3:::b/${*}",
                V2008,
                "arn:aws:s3:::b/${abc}",
                V2008,
                true,
            ),
        ];
        for (wide, wide_version, narrow, narrow_version, want) in table {
            assert_eq!(
                covers(wide, wide_version, narrow, narrow_version),
                want,
                "{wide:?} ({wide_version}) covers {narrow:?} ({narrow_version})"
            );
        }
        // (pattern, its text with escapes resolved, has a wildcard)
        let table = [
            ("arn:aws:s3:::b/${*}x*", Some("arn:aws:s3:::b/*x*"), true),
            ("arn:aws:s3:::b/${*}x", None, false),
        ];
        for (pattern, text, wild) in table {
            if let Some(text) = text {
                assert_eq!(as_text(pattern, V), text, "{pattern:?}");
            }
            assert_eq!(has_wildcard(pattern, V), wild, "{pattern:?}");
        }
    }

    /// Naive recursive reference matcher (exponential in the worst case; only for short inputs).
    fn reference_match(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|k| reference_match(&p[1..], &t[k..])),
            Some('?') => !t.is_empty() && reference_match(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && reference_match(&p[1..], &t[1..]),
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
        let (action, resource) = ("a".repeat(5_000), "a".repeat(5_000));
        let none = Context::new();
        let req = Request {
            action: &action,
            resource: &resource,
            context: &none,
        };
        assert_eq!(evaluate(&[d], &req), Decision::ImplicitDeny);
    }

    /// The three users of the grammar agree: what `escape_literal` writes, the grammar reads back
    /// as exactly the name's characters, each literal; `unescape_literal` and `as_text` give the
    /// name back; and containment sees no wildcard in it.
    #[test]
    fn escaped_names_read_back_as_literals() {
        let mut rng = Lcg(15);
        let alphabet = ["$", "{", "}", "*", "?", "a", "/", "é", "'", ",", " "];
        for _ in 0..2000 {
            let name = rng.string(&alphabet, 10);
            let escaped = escape_literal(&name);
            let literal: Vec<Piece> = name.chars().map(|c| Piece::Tok(Tok::Lit(c))).collect();
            assert_eq!(parse_pieces(&escaped, true, true), literal, "{escaped:?}");
            assert_eq!(unescape_literal(&escaped), name, "{escaped:?}");
            assert_eq!(as_text(&escaped, V), name, "{escaped:?}");
            assert!(!has_wildcard(&escaped, V), "{escaped:?}");
            assert!(covers(&escaped, V, &escaped, V), "{escaped:?}");
        }
    }

    /// Containment is sound: when one pattern covers another, it matches every resource the other
    /// matches.
    #[test]
    fn a_covering_pattern_matches_what_it_covers() {
        let mut rng = Lcg(16);
        let frag = ["a", "b", "*", "?", "${*}", "${?}"];
        let text = ["a", "b", "*", "?"];
        let none = Context::new();
        let (mut covered, mut checked) = (0, 0);
        for _ in 0..3000 {
            let wide = rng.string(&frag, 4);
            let narrow = rng.string(&frag, 4);
            if !covers(&wide, V, &narrow, V) {
                continue;
            }
            covered += 1;
            for _ in 0..20 {
                let resource = rng.string(&text, 5);
                if resource_matches(&narrow, &resource, V, &none) {
                    checked += 1;
                    assert!(
                        resource_matches(&wide, &resource, V, &none),
                        "{wide:?} covers {narrow:?} but does not match {resource:?}"
                    );
                }
            }
        }
        // 335 and 725 with this seed.
        assert!(covered > 200 && checked > 400, "{covered} {checked}");
    }
}
