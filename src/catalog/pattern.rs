//! Matching of text against the catalog's templates: ARN formats such as
//! `arn:${Partition}:s3:::${BucketName}/${ObjectName}` and condition-key templates such as
//! `aws:RequestTag/${TagKey}`.
//!
//! Matching is a dynamic programme over (template token, text position), so it is linear in
//! the text length per token however many placeholders a template has; a backtracking
//! matcher would be exponential on inputs like `a/a/a/.../a` against `${A}/${B}/${C}`.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Box<str>),
    /// `${Name}`; in ARN formats also a bare `*` (a few end in one), in condition keys `<name>`.
    Placeholder,
}

/// Splits a template into literal runs and placeholders; an unterminated `${` stays literal.
/// Condition-key templates also use `<key>` (`s3:ExistingObjectTag/<key>`) for a placeholder.
fn tokenize(template: &str, mode: Mode) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let var = rest
            .find("${")
            .and_then(|i| rest[i..].find('}').map(|j| (i, i + j + 1)));
        let other = match mode {
            Mode::Arn => rest.find('*').map(|i| (i, i + 1)),
            Mode::ConditionKey => rest
                .find('<')
                .and_then(|i| rest[i..].find('>').map(|j| (i, i + j + 1))),
        };
        // Whichever placeholder comes first; (start, end) of its text.
        let next = match (var, other) {
            (Some(v), Some(o)) => Some(if o.0 < v.0 { o } else { v }),
            (v, o) => v.or(o),
        };
        let Some((start, end)) = next else {
            tokens.push(Token::Literal(rest.into()));
            break;
        };
        if start > 0 {
            tokens.push(Token::Literal(rest[..start].into()));
        }
        tokens.push(Token::Placeholder);
        rest = &rest[end..];
    }
    tokens
}

/// How placeholders behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// ARN formats: a placeholder is one or more characters other than `:`, except that a
    /// placeholder ending the format may also contain `:` (log-group names, SSM automation
    /// versions). Literals compare case-sensitively, as ARNs do.
    Arn,
    /// Condition-key templates: a placeholder is one or more of any character, and literals
    /// compare ASCII-case-insensitively, as IAM compares condition-key names.
    ConditionKey,
}

/// Whether `text` matches `template` as a whole.
fn matches_tokens(tokens: &[Token], text: &str, mode: Mode) -> bool {
    let bytes = text.as_bytes();
    let n = bytes.len();
    // `next[p]`: the tokens after the current one match `text[p..]`.
    let mut next = vec![false; n + 1];
    next[n] = true;
    let mut cur = vec![false; n + 1];
    for (t, token) in tokens.iter().enumerate().rev() {
        match token {
            Token::Literal(lit) => {
                let lit = lit.as_bytes();
                for p in 0..=n {
                    cur[p] = p + lit.len() <= n
                        && next[p + lit.len()]
                        && match mode {
                            Mode::Arn => &bytes[p..p + lit.len()] == lit,
                            Mode::ConditionKey => bytes[p..p + lit.len()].eq_ignore_ascii_case(lit),
                        };
                }
            }
            Token::Placeholder => {
                let any_char = mode == Mode::ConditionKey || t + 1 == tokens.len();
                // cur[p]: text[p..q] (q > p) fits the placeholder and next[q] for some q.
                cur[n] = false;
                for p in (0..n).rev() {
                    cur[p] = (any_char || bytes[p] != b':') && (next[p + 1] || cur[p + 1]);
                }
            }
        }
        std::mem::swap(&mut cur, &mut next);
    }
    next[0]
}

/// An ARN format compiled once at catalog load, since classifying an ARN tries every
/// resource type of a service (ec2 has well over a hundred).
#[derive(Debug, Clone, Default)]
pub(crate) struct ArnFormat {
    /// Some formats list several ARNs separated by ", "; any of them may match.
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone)]
struct Alternative {
    tokens: Vec<Token>,
    literal_len: usize,
}

impl Alternative {
    /// A cheap necessary condition, to skip the matcher for most non-matching types:
    /// the literals occur in order, the first one at the start and the last one at the end.
    fn may_match(&self, arn: &str) -> bool {
        let mut rest = arn;
        let last = self.tokens.len().saturating_sub(1);
        for (i, token) in self.tokens.iter().enumerate() {
            let Token::Literal(lit) = token else { continue };
            let found = if i == 0 {
                rest.starts_with(&**lit).then_some(0)
            } else if i == last {
                rest.len()
                    .checked_sub(lit.len())
                    .filter(|_| rest.ends_with(&**lit))
            } else {
                rest.find(&**lit)
            };
            match found {
                Some(at) => rest = &rest[at + lit.len()..],
                None => return false,
            }
        }
        true
    }
}

impl ArnFormat {
    pub(crate) fn new(format: &str) -> ArnFormat {
        let alternatives = format
            .split(", ")
            .map(|alt| {
                let tokens = tokenize(alt, Mode::Arn);
                let literal_len = tokens
                    .iter()
                    .map(|t| match t {
                        Token::Literal(l) => l.len(),
                        Token::Placeholder => 0,
                    })
                    .sum();
                Alternative {
                    tokens,
                    literal_len,
                }
            })
            .collect();
        ArnFormat { alternatives }
    }

    /// If `arn` matches, how specific the match is: the number of literal bytes in the
    /// best matching alternative. `None` if no alternative matches.
    pub(crate) fn specificity(&self, arn: &str) -> Option<usize> {
        self.alternatives
            .iter()
            .filter(|alt| alt.may_match(arn) && matches_tokens(&alt.tokens, arn, Mode::Arn))
            .map(|alt| alt.literal_len)
            .max()
    }
}

#[cfg(test)]
fn arn_specificity(format: &str, arn: &str) -> Option<usize> {
    ArnFormat::new(format).specificity(arn)
}

/// Whether a concrete condition key (or the template itself) matches a catalog key template.
pub(crate) fn condition_key_matches(template: &str, key: &str) -> bool {
    if template.eq_ignore_ascii_case(key) {
        return true;
    }
    (template.contains("${") || template.contains('<'))
        && matches_tokens(
            &tokenize(template, Mode::ConditionKey),
            key,
            Mode::ConditionKey,
        )
}

/// IAM wildcard match (`*` any run, `?` one character), ASCII-case-insensitive, as IAM
/// compares action names. Greedy with single-point backtracking: linear-ish and no recursion.
pub(crate) fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_placeholders_stars_and_broken_templates() {
        use Token::*;
        let lit = |s: &str| Literal(s.into());
        assert_eq!(
            tokenize("arn:${P}:s3:::${B}/${K}", Mode::Arn),
            vec![
                lit("arn:"),
                Placeholder,
                lit(":s3:::"),
                Placeholder,
                lit("/"),
                Placeholder
            ]
        );
        assert_eq!(
            tokenize("a/${X}${Y}", Mode::Arn),
            vec![lit("a/"), Placeholder, Placeholder]
        );
        assert_eq!(
            tokenize("/backend/*", Mode::Arn),
            vec![lit("/backend/"), Placeholder]
        );
        assert_eq!(
            tokenize("/backend/*", Mode::ConditionKey),
            vec![lit("/backend/*")]
        );
        assert_eq!(
            tokenize("s3:Tag/<key>", Mode::ConditionKey),
            vec![lit("s3:Tag/"), Placeholder]
        );
        assert_eq!(
            tokenize("s3:Tag/<key>", Mode::Arn),
            vec![lit("s3:Tag/<key>")]
        );
        assert_eq!(tokenize("x${open", Mode::Arn), vec![lit("x${open")]);
        assert_eq!(tokenize("", Mode::Arn), vec![]);
    }

    #[test]
    fn arn_placeholders_exclude_colons_except_at_the_end() {
        let group = "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}";
        assert_eq!(
            arn_specificity(group, "arn:aws:logs:r:1:log-group:/ecs/x"),
            Some(22)
        );
        // The trailing placeholder may swallow colons ...
        assert!(arn_specificity(group, "arn:aws:logs:r:1:log-group:/ecs/x:*").is_some());
        // ... a middle one may not, and placeholders are never empty.
        assert!(arn_specificity(group, "arn:aws:logs:r:1:2:log-group:x").is_none());
        assert!(arn_specificity(group, "arn:aws:logs::1:log-group:x").is_none());
        assert!(arn_specificity(group, "arn:aws:logs:r:1:log-group:").is_none());
        // Literals are case-sensitive.
        assert!(arn_specificity(group, "arn:aws:logs:r:1:LOG-GROUP:x").is_none());
    }

    #[test]
    fn arn_alternatives_and_adjacent_placeholders() {
        let f = "arn:${P}:apigateway:${R}::/apis/${A}/stages, arn:${P}:apigateway:${R}::/restapis/${A}/stages";
        assert!(arn_specificity(f, "arn:aws:apigateway:eu-west-1::/restapis/abc/stages").is_some());
        assert!(arn_specificity(f, "arn:aws:apigateway:eu-west-1::/apis/abc/stages").is_some());
        assert!(arn_specificity(f, "arn:aws:apigateway:eu-west-1::/other/abc/stages").is_none());
        let adj = "p/${A}${B}";
        assert!(arn_specificity(adj, "p/xy").is_some());
        assert!(arn_specificity(adj, "p/x").is_none());
    }

    #[test]
    fn pathological_input_is_fast() {
        let arn = format!("arn:aws:x:r:1:{}", "a/".repeat(20_000));
        let f = "arn:${P}:x:${R}:${A}:${B}/${C}/${D}/${E}/${F}/q";
        let start = std::time::Instant::now();
        assert!(arn_specificity(f, &arn).is_none());
        assert!(start.elapsed().as_secs() < 2);
    }

    #[test]
    fn condition_key_templates() {
        assert!(condition_key_matches(
            "aws:RequestTag/${TagKey}",
            "aws:requesttag/team"
        ));
        assert!(condition_key_matches(
            "aws:RequestTag/${TagKey}",
            "aws:RequestTag/a:b/c"
        ));
        assert!(condition_key_matches(
            "aws:RequestTag/${TagKey}",
            "aws:RequestTag/${TagKey}"
        ));
        assert!(!condition_key_matches(
            "aws:RequestTag/${TagKey}",
            "aws:RequestTag/"
        ));
        assert!(condition_key_matches(
            "codebuild:environment.environmentVariables/${name}.value",
            "codebuild:environment.environmentVariables/FOO.value"
        ));
        assert!(condition_key_matches(
            "s3:ExistingObjectTag/<key>",
            "s3:ExistingObjectTag/team"
        ));
        assert!(condition_key_matches("kms:ViaService", "KMS:viaservice"));
        assert!(!condition_key_matches("kms:ViaService", "kms:ViaServices"));
    }

    #[test]
    fn iam_wildcards() {
        assert!(wildcard_matches("Get*", "getobject"));
        assert!(wildcard_matches("*Object", "GetObject"));
        assert!(wildcard_matches("G?t*t", "GetObject"));
        assert!(wildcard_matches("*", ""));
        assert!(!wildcard_matches("Get?", "Get"));
        assert!(!wildcard_matches("Put*", "GetObject"));
        assert!(wildcard_matches("*a*b*c*", "xxaxxbxxcxx"));
    }
}
