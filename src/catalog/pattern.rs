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

/// A text to match against many templates (an ARN tried against every resource type of its
/// service), with what the matcher needs of it found once: where its colons are.
pub(crate) struct Subject<'a> {
    text: &'a str,
    /// Bit `127 - p` for a colon at byte `p` (texts under 128 bytes only).
    colons: u128,
    /// The text's first five fields, split at its first five colons (None with fewer).
    head: Option<Head<'a>>,
}

/// An ARN's first five fields (`arn`, partition, service, region, account).
struct Head<'a> {
    fields: [&'a str; 5],
    /// Bit `i` set when field `i` is empty.
    empty: u8,
}

impl<'a> Subject<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let short = bytes.len() < 128;
        let mut colons = 0;
        let mut at = [0; 5];
        let mut found = 0;
        for (p, &b) in bytes.iter().enumerate() {
            if b != b':' {
                continue;
            }
            if short {
                colons |= 1u128 << (127 - p);
            }
            if found < at.len() {
                at[found] = p;
                found += 1;
            } else if !short {
                break;
            }
        }
        let head = (found == at.len()).then(|| {
            let fields: [&str; 5] = std::array::from_fn(|i| {
                let start = if i == 0 { 0 } else { at[i - 1] + 1 };
                // Colons are ASCII: both ends are character boundaries.
                text.get(start..at[i]).unwrap_or_default()
            });
            let empty = fields
                .iter()
                .enumerate()
                .fold(0, |m, (i, f)| m | u8::from(f.is_empty()) << i);
            Head { fields, empty }
        });
        Subject { text, colons, head }
    }
}

/// Whether `text` matches `template` as a whole.
fn matches_tokens(tokens: &[Token], subject: &Subject, mode: Mode) -> bool {
    let text = subject.text;
    // Classifying an ARN runs this for several of its service's formats: the rows of the
    // programme live on the stack for the usual lengths, on the heap beyond.
    const ON_STACK: usize = 256;
    let n = text.len();
    if n < 128 {
        return bit_programme(tokens, subject, mode);
    }
    if n < ON_STACK {
        let (mut a, mut b) = ([false; ON_STACK], [false; ON_STACK]);
        programme(tokens, text, mode, &mut a[..=n], &mut b[..=n])
    } else {
        programme(
            tokens,
            text,
            mode,
            &mut vec![false; n + 1],
            &mut vec![false; n + 1],
        )
    }
}

/// The dynamic programme of [`matches_tokens`], on two rows of `text.len() + 1` cells.
fn programme<'r>(
    tokens: &[Token],
    text: &str,
    mode: Mode,
    mut next: &'r mut [bool],
    mut cur: &'r mut [bool],
) -> bool {
    let bytes = text.as_bytes();
    let n = bytes.len();
    // `next[p]`: the tokens after the current one match `text[p..]`.
    next.fill(false);
    next[n] = true;
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

/// [`programme`] with each row a bit set, for texts under 128 bytes: bit `127 - p` stands for
/// `text[p..]`, so that a placeholder's row grows towards higher bits, which a carry does. A
/// literal is compared only where the tokens after it may start, and a placeholder's row takes a
/// few word operations instead of a pass over the text.
fn bit_programme(tokens: &[Token], subject: &Subject, mode: Mode) -> bool {
    let bytes = subject.text.as_bytes();
    let n = bytes.len();
    debug_assert!(n < 128);
    let bit = |p: usize| 1u128 << (127 - p);
    // Positions 0..n, where a placeholder's characters may stand.
    let before_end: u128 = if n == 0 { 0 } else { !0 << (128 - n) };
    let mut next: u128 = bit(n);
    for (t, token) in tokens.iter().enumerate().rev() {
        next = match token {
            Token::Literal(lit) => {
                let lit = lit.as_bytes();
                if lit.len() > n {
                    0
                } else {
                    // p where the rest may start right after the literal and, for ARNs, where
                    // the literal's first byte stands: most positions fail that test alone, and
                    // it costs no call to compare.
                    let mut starts = next << lit.len();
                    if let (Mode::Arn, Some(&first)) = (mode, lit.first()) {
                        starts &= positions_of(bytes, first);
                    }
                    let mut row = 0;
                    while starts != 0 {
                        let p = starts.leading_zeros() as usize;
                        starts &= !bit(p);
                        let here = &bytes[p..p + lit.len()];
                        let equal = match mode {
                            Mode::Arn => here == lit,
                            Mode::ConditionKey => here.eq_ignore_ascii_case(lit),
                        };
                        if equal {
                            row |= bit(p);
                        }
                    }
                    row
                }
            }
            Token::Placeholder => {
                let any_char = mode == Mode::ConditionKey || t + 1 == tokens.len();
                let fits = if any_char {
                    before_end
                } else {
                    before_end & !subject.colons
                };
                // p fits when a run of fitting characters from p reaches a q > p where the rest
                // may start: seeds are the last characters of such runs, and each run is filled
                // from its seed towards its start, that is towards higher bits. Adding a seed to
                // its run clears the run from the seed up (`!` keeps those bits); several seeds
                // in a run leave all but the lowest set, which `| seeds` restores.
                let seeds = (next << 1) & fits;
                (fits & !fits.wrapping_add(seeds)) | seeds
            }
        };
    }
    next & bit(0) != 0
}

/// Bit `127 - p` for each byte `p` of `bytes` (under 128 of them) equal to `b`.
fn positions_of(bytes: &[u8], b: u8) -> u128 {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, x)| **x == b)
        .fold(0, |m, (p, _)| m | 1u128 << (127 - p))
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
    /// What the format fixes of an ARN's first five fields, when it fixes them field by field.
    head: Option<HeadRule>,
}

/// What a format fixes of the first five fields of an ARN (`arn`, partition, service, region,
/// account): each empty, one placeholder alone (any text but empty), literal text, or a mix
/// that is not checked here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct HeadRule {
    /// Bit `i`: field `i` must be empty.
    empty: u8,
    /// Bit `i`: field `i` must not be empty (a placeholder alone, or literal text).
    filled: u8,
    /// Fields given as literal text, by index.
    literals: Vec<(usize, Box<str>)>,
}

impl HeadRule {
    fn admits(&self, head: &Head) -> bool {
        head.empty & self.filled == 0
            && !head.empty & self.empty == 0
            && self
                .literals
                .iter()
                .all(|(i, lit)| head.fields.get(*i).is_some_and(|f| **f == **lit))
    }
}

/// The first five fields of a format's alternative, if its first five colons are literal and
/// the final placeholder (the only one that may match `:`) comes after them. Then the colons of
/// a matching ARN line up with the format's, field for field, so comparing fields is a
/// necessary condition of a match; for other formats there is none to check.
fn head_rule(tokens: &[Token]) -> Option<HeadRule> {
    // Per field: its literal text, and how many placeholders it holds.
    let mut fields: Vec<(String, usize)> = vec![(String::new(), 0)];
    for (i, token) in tokens.iter().enumerate() {
        if fields.len() > 5 {
            break;
        }
        match token {
            Token::Literal(lit) => {
                for (k, piece) in lit.split(':').enumerate() {
                    if k > 0 {
                        fields.push((String::new(), 0));
                    }
                    if let Some(field) = fields.last_mut() {
                        field.0.push_str(piece);
                    }
                }
            }
            Token::Placeholder if i + 1 == tokens.len() => return None,
            Token::Placeholder => {
                if let Some(field) = fields.last_mut() {
                    field.1 += 1;
                }
            }
        }
    }
    if fields.len() <= 5 {
        return None;
    }
    let mut rule = HeadRule::default();
    for (i, (text, placeholders)) in fields.into_iter().take(5).enumerate() {
        match (text.is_empty(), placeholders) {
            (true, 0) => rule.empty |= 1 << i,
            (true, 1) => rule.filled |= 1 << i,
            (false, 0) => {
                rule.filled |= 1 << i;
                rule.literals.push((i, text.into()));
            }
            _ => {}
        }
    }
    // Later fields first: the region and the service tell formats apart, `arn` never does.
    rule.literals.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    Some(rule)
}

impl Alternative {
    /// Whether the ARN's first five fields are as the format fixes them: a necessary condition
    /// that rejects most of a service's types at once (`arn:aws:s3:::b/k` has no region, so no
    /// access point, job or storage-lens format can match it).
    fn head_fits(&self, arn: &Subject) -> bool {
        match (&self.head, &arn.head) {
            (Some(rule), Some(head)) => rule.admits(head),
            // An ARN with fewer than five colons matches no format that has five.
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

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
                crate::text::find(rest, lit)
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
                    head: head_rule(&tokens),
                    tokens,
                    literal_len,
                }
            })
            .collect();
        ArnFormat { alternatives }
    }

    /// The most [`ArnFormat::specificity`] can return: the literal bytes of its longest
    /// alternative.
    pub(crate) fn max_specificity(&self) -> usize {
        self.alternatives
            .iter()
            .map(|a| a.literal_len)
            .max()
            .unwrap_or(0)
    }

    /// If `arn` matches, how specific the match is: the number of literal bytes in the
    /// best matching alternative. `None` if no alternative matches.
    pub(crate) fn specificity(&self, arn: &Subject) -> Option<usize> {
        self.alternatives
            .iter()
            .filter(|alt| {
                alt.head_fits(arn)
                    && alt.may_match(arn.text)
                    && matches_tokens(&alt.tokens, arn, Mode::Arn)
            })
            .map(|alt| alt.literal_len)
            .max()
    }

    /// [`ArnFormat::specificity`] by the matcher alone, without the necessary conditions that
    /// spare it: what they must never change.
    #[cfg(test)]
    pub(crate) fn specificity_by_matching(&self, arn: &Subject) -> Option<usize> {
        self.alternatives
            .iter()
            .filter(|alt| matches_tokens(&alt.tokens, arn, Mode::Arn))
            .map(|alt| alt.literal_len)
            .max()
    }
}

#[cfg(test)]
fn arn_specificity(format: &str, arn: &str) -> Option<usize> {
    ArnFormat::new(format).specificity(&Subject::new(arn))
}

/// Whether a concrete condition key (or the template itself) matches a catalog key template.
pub(crate) fn condition_key_matches(template: &str, key: &str) -> bool {
    if template.eq_ignore_ascii_case(key) {
        return true;
    }
    (template.contains("${") || template.contains('<'))
        && matches_tokens(
            &tokenize(template, Mode::ConditionKey),
            &Subject::new(key),
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

    /// The bit-set programme answers as the row programme does, on random templates and texts
    /// made of the characters that matter (separators, placeholders, case).
    #[test]
    fn the_bit_programme_agrees_with_the_rows() {
        let mut rng = crate::bench::generate::Rng::new(7);
        let pieces = [
            "a", "B", "b", ":", "/", "${X}", "*", "<k>", "ab", "::", "a:",
        ];
        let chars = [b'a', b'b', b'B', b':', b'/'];
        for _ in 0..20_000 {
            let mut template = String::new();
            for _ in 0..rng.below(7) {
                template.push_str(pieces[rng.below(pieces.len() as u64) as usize]);
            }
            let longest = if rng.below(8) == 0 { 127 } else { 12 };
            let len = rng.below(longest) as usize;
            let text: String = (0..len)
                .map(|_| chars[rng.below(chars.len() as u64) as usize] as char)
                .collect();
            for mode in [Mode::Arn, Mode::ConditionKey] {
                let tokens = tokenize(&template, mode);
                let n = text.len();
                let rows = programme(
                    &tokens,
                    &text,
                    mode,
                    &mut vec![false; n + 1],
                    &mut vec![false; n + 1],
                );
                assert_eq!(
                    bit_programme(&tokens, &Subject::new(&text), mode),
                    rows,
                    "{template:?} {text:?} {mode:?}"
                );
            }
        }
    }

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
