//! `policy-miner catalog show ACTION`: a human-readable view of one catalog entry.

use std::fmt::Write as _;

use super::{Action, Catalog};
use crate::text::printable;

/// API operation names that people (and SDK traces) use but that are not IAM actions, with
/// the action(s) that actually authorise them. Only used to make error messages useful;
/// `mapping` owns the real call → action translation.
const API_NAME_HINTS: &[(&str, &str)] = &[
    ("s3:ListObjects", "s3:ListBucket"),
    ("s3:ListObjectsV2", "s3:ListBucket"),
    ("s3:ListObjectVersions", "s3:ListBucketVersions"),
    ("s3:ListBuckets", "s3:ListAllMyBuckets"),
    ("s3:HeadObject", "s3:GetObject"),
    ("s3:HeadBucket", "s3:ListBucket"),
    (
        "s3:CopyObject",
        "s3:GetObject (source) and s3:PutObject (destination)",
    ),
    ("s3:CreateMultipartUpload", "s3:PutObject"),
    ("s3:UploadPart", "s3:PutObject"),
    ("s3:CompleteMultipartUpload", "s3:PutObject"),
    ("s3:DeleteObjects", "s3:DeleteObject"),
    ("lambda:Invoke", "lambda:InvokeFunction"),
];

/// How many "did you mean" names to offer.
const MAX_SUGGESTIONS: usize = 5;

/// Text for `policy-miner catalog show ACTION`: the action's canonical name, access level,
/// resource types with ARN formats (marking required ones), and condition keys; plus the
/// catalog's source and date. Err with a helpful message (nearest names, e.g. same prefix
/// with similar name) when the action does not exist.
pub fn show_action(catalog: &Catalog, action: &str) -> Result<String, crate::Error> {
    let query = action.trim();
    match catalog.action(query) {
        Some(found) => Ok(render(catalog, found)),
        None => Err(crate::Error::UnknownAction(not_found(catalog, query))),
    }
}

/// Text for `policy-miner catalog show --operation SERVICE:OPERATION`: the actions AWS says the
/// API operation authorizes (with their condition context), from a catalog cached by `catalog
/// update`. Err saying why when there is none: no operation data in this copy (the embedded
/// one), none for the service, or no such operation (nearest names offered).
pub fn show_operation(catalog: &Catalog, operation: &str) -> Result<String, crate::Error> {
    let query = operation.trim();
    let source = format!(
        "(catalog: {} of {})",
        catalog.source(),
        catalog.source_date()
    );
    let fail = |msg: String| Err(crate::Error::UnknownOperation(msg));
    if !catalog.has_operations() {
        return fail(format!(
            "this copy of the catalog has no operation data {source}: the embedded catalog \
             carries none; `policy-miner catalog update` fetches AWS's Service Reference, which \
             lists each operation's authorized actions"
        ));
    }
    let Some((prefix, name)) = query.split_once(':') else {
        return fail(format!(
            "{query:?} is not SERVICE:OPERATION (e.g. s3:CopyObject) {source}"
        ));
    };
    if let Some(op) = catalog.operation(query) {
        return Ok(render_operation(catalog, op));
    }
    if !catalog.has_service(prefix) {
        return fail(format!("unknown IAM service prefix {prefix:?} {source}"));
    }
    let ops = catalog.service_operations(prefix);
    if ops.is_empty() {
        return fail(format!(
            "AWS's Service Reference maps no operation of {prefix} to actions yet {source}; \
             policy-miner's own rules decide (docs/mapping.md)"
        ));
    }
    let mut msg = format!("{query} is not an operation of {prefix} {source}");
    let near = nearest(ops.iter().map(|o| o.name()), name);
    if !near.is_empty() {
        let _ = write!(
            msg,
            "; did you mean {}?",
            list(
                near.into_iter().map(|n| format!("{prefix}:{n}")),
                MAX_SUGGESTIONS
            )
        );
    }
    fail(msg)
}

fn render_operation(catalog: &Catalog, op: crate::catalog::Operation<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (API operation)", printable(&op.full_name()));
    let _ = writeln!(out, "  Authorized actions (AWS lists every action the operation may need; which ones a call needs depends on its request):");
    for a in op.authorized_actions() {
        let known = if catalog.action(&a.full_name()).is_some() {
            ""
        } else {
            "  (not in this catalog)"
        };
        // Names and values come from the downloaded reference: shown, never interpreted.
        let _ = writeln!(out, "    {}{known}", printable(&a.full_name()));
        for (key, values) in a.context {
            let _ = writeln!(
                out,
                "      {} = {}",
                printable(key),
                printable(&values.join(", "))
            );
        }
    }
    source_line(&mut out, catalog);
    out
}

fn render(catalog: &Catalog, action: Action<'_>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; ignoring the Results keeps this free of unwraps.
    let _ = writeln!(out, "{}", action.full_name());
    let service = catalog
        .service_name(action.service())
        .unwrap_or(action.service());
    let _ = writeln!(out, "  Service:       {service} ({})", action.service());
    let _ = writeln!(out, "  Access level:  {}", action.access_level());

    let resources = action.resource_types();
    if resources.is_empty() {
        let _ = writeln!(
            out,
            "  Resource types: none; the action only works with \"Resource\": \"*\""
        );
    } else {
        let _ = writeln!(out, "  Resource types (* = required):");
        let width = resources
            .iter()
            .map(|r| r.name.len() + 1)
            .max()
            .unwrap_or(0);
        for r in &resources {
            let label = format!("{}{}", r.name, if r.required { "*" } else { "" });
            let _ = writeln!(out, "    {label:<width$}  {}", r.arn_format);
        }
    }

    let mut keys = action.condition_keys();
    keys.sort_by_key(|k| k.to_ascii_lowercase());
    if keys.is_empty() {
        let _ = writeln!(out, "  Condition keys: none besides the global aws:* keys");
    } else {
        let _ = writeln!(out, "  Condition keys (plus the global aws:* keys):");
        for key in keys {
            let typ = catalog
                .condition_key_type(action.service(), key)
                .unwrap_or("?");
            let _ = writeln!(out, "    {key} ({typ})");
        }
    }
    source_line(&mut out, catalog);
    out
}

fn not_found(catalog: &Catalog, query: &str) -> String {
    let source = format!(
        "(catalog: {} of {})",
        catalog.source(),
        catalog.source_date()
    );
    if query.is_empty() {
        return format!("no action given; expected SERVICE:ACTION, e.g. s3:GetObject {source}");
    }
    if query.contains(['*', '?']) {
        let matches = catalog.expand_actions(query);
        if matches.is_empty() {
            return format!("the pattern {query:?} matches no IAM action {source}");
        }
        let listed = list(matches.iter().map(|a| a.full_name()), 30);
        return format!(
            "{query:?} is a pattern matching {} actions; show one of them: {listed}",
            matches.len()
        );
    }

    let Some((prefix, name)) = query.split_once(':') else {
        // A bare action name: look for it in every service.
        let owners: Vec<String> = catalog
            .service_prefixes()
            .filter_map(|p| catalog.action(&format!("{p}:{query}")))
            .map(|a| a.full_name())
            .collect();
        return if owners.is_empty() {
            format!("{query:?} is not SERVICE:ACTION (e.g. s3:GetObject) {source}")
        } else {
            format!(
                "{query:?} needs a service prefix; did you mean {}?",
                list(owners.into_iter(), 10)
            )
        };
    };

    if !catalog.has_service(prefix) {
        let near = nearest(catalog.service_prefixes(), prefix);
        // Prefer similar prefixes that really have the action, under its canonical name.
        let with_action: Vec<String> = near
            .iter()
            .filter_map(|p| catalog.action(&format!("{p}:{name}")))
            .map(|a| a.full_name())
            .collect();
        let mut msg = format!("unknown IAM service prefix {prefix:?} {source}");
        if !with_action.is_empty() {
            let _ = write!(
                msg,
                "; did you mean {}?",
                list(with_action.into_iter(), MAX_SUGGESTIONS)
            );
        } else if !near.is_empty() {
            let _ = write!(
                msg,
                "; similar prefixes: {}",
                list(near.into_iter().map(String::from), MAX_SUGGESTIONS)
            );
        }
        return msg;
    }

    let mut msg = format!("{query} is not an IAM action {source}");
    if let Some((_, real)) = API_NAME_HINTS
        .iter()
        .find(|(api, _)| api.eq_ignore_ascii_case(query))
    {
        let _ = write!(
            msg,
            "; {query} is an API operation, authorised by {real} (`catalog show --operation \
             {query}` lists every action AWS says it may authorize, from a catalog cached by \
             `catalog update`)"
        );
        return msg;
    }
    let actions = catalog.service_actions(prefix);
    let near = nearest(actions.iter().map(|a| a.name()), name);
    if !near.is_empty() {
        let canonical = actions.first().map(|a| a.service()).unwrap_or(prefix);
        let _ = write!(
            msg,
            "; did you mean {}?",
            list(
                near.into_iter().map(|n| format!("{canonical}:{n}")),
                MAX_SUGGESTIONS
            )
        );
    }
    msg
}

/// Joins names as "a, b or c", eliding beyond `max`.
fn list(items: impl Iterator<Item = String>, max: usize) -> String {
    let items: Vec<String> = items.collect();
    let shown = &items[..items.len().min(max)];
    let mut text = match shown {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    if items.len() > max {
        let _ = write!(text, " (and {} more)", items.len() - max);
    }
    text
}

/// The candidates closest to `query`, best first: names containing it (or contained in it)
/// and names within a small edit distance, case-insensitively.
fn nearest<'a>(candidates: impl Iterator<Item = &'a str>, query: &str) -> Vec<&'a str> {
    let q = query.to_ascii_lowercase();
    if q.is_empty() {
        return Vec::new();
    }
    // Allow roughly one typo per three characters, but always at least two.
    let budget = (q.len() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let lc = c.to_ascii_lowercase();
            let d = edit_distance(&q, &lc);
            if d <= budget {
                Some((d, c))
            } else if q.len() >= 4 && (lc.contains(&q) || (lc.len() >= 4 && q.contains(&lc))) {
                // Substring matches rank after close typos, shorter (closer) names first.
                Some((budget + 1 + lc.len().abs_diff(q.len()), c))
            } else {
                None
            }
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, c)| c)
        .collect()
}

/// Levenshtein distance over bytes (names are ASCII); one row of memory.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The last line of every `catalog show`: where the data comes from, its date and licence.
fn source_line(out: &mut String, catalog: &Catalog) {
    let _ = writeln!(
        out,
        "Source: {} ({}), {}",
        catalog.source(),
        catalog.source_date(),
        catalog.license()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::embedded;

    #[test]
    fn shows_an_action_with_resources_and_keys() {
        let text = show_action(embedded(), " s3:getobject ").unwrap();
        assert!(text.starts_with("s3:GetObject\n"), "{text}");
        assert!(text.contains("Access level:  Read"), "{text}");
        assert!(text.contains("Service:       Amazon S3 (s3)"), "{text}");
        assert!(
            text.contains("arn:${Partition}:s3:::${BucketName}/${ObjectName}"),
            "{text}"
        );
        assert!(
            text.contains("s3:ExistingObjectTag/<key> (String)"),
            "{text}"
        );
        assert!(
            text.contains(embedded().source()) && text.contains(embedded().source_date()),
            "{text}"
        );

        let send = show_action(embedded(), "sqs:SendMessage").unwrap();
        assert!(
            send.contains("queue*  arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"),
            "{send}"
        );

        let decrypt = show_action(embedded(), "kms:Decrypt").unwrap();
        assert!(decrypt.contains("kms:ViaService (String)"), "{decrypt}");

        let none = show_action(embedded(), "ecr:GetAuthorizationToken").unwrap();
        assert!(none.contains("Resource types: none"), "{none}");
    }

    #[test]
    fn unknown_actions_get_suggestions() {
        let c = embedded();
        let err = show_action(c, "s3:GetObjekt").unwrap_err().to_string();
        assert!(err.contains("s3:GetObject"), "{err}");
        let err = show_action(c, "s3:HeadObject").unwrap_err().to_string();
        assert!(err.contains("s3:GetObject"), "{err}");
        let err = show_action(c, "s3:ListObjectsV2").unwrap_err().to_string();
        assert!(err.contains("s3:ListBucket"), "{err}");
        let err = show_action(c, "lambda:Invoke").unwrap_err().to_string();
        assert!(err.contains("lambda:InvokeFunction"), "{err}");
        let err = show_action(c, "S3:putobjectacls").unwrap_err().to_string();
        assert!(err.contains("s3:PutObjectAcl"), "{err}");
        let err = show_action(c, "dynamodb:Querry").unwrap_err().to_string();
        assert!(err.contains("dynamodb:Query"), "{err}");
        let err = show_action(c, "kmss:decrypt").unwrap_err().to_string();
        assert!(err.contains("did you mean kms:Decrypt"), "{err}");
        let err = show_action(c, "sqss:NoSuchThing").unwrap_err().to_string();
        assert!(err.contains("similar prefixes: sqs"), "{err}");
        let err = show_action(c, "GetSecretValue").unwrap_err().to_string();
        assert!(err.contains("secretsmanager:GetSecretValue"), "{err}");
        let err = show_action(c, "s3:GetObjectT*").unwrap_err().to_string();
        assert!(
            err.contains("s3:GetObjectTagging") && err.contains("s3:GetObjectTorrent"),
            "{err}"
        );
        for weird in [
            "",
            ":",
            "s3:",
            ":x",
            "*",
            "::::",
            "é:ü",
            "s3:\u{0}",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzz:Get",
        ] {
            assert!(show_action(c, weird).is_err(), "{weird:?}");
        }
    }

    #[test]
    fn the_embedded_copy_has_no_operations_and_says_so() {
        let err = show_operation(embedded(), "s3:CopyObject")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no operation data") && err.contains("catalog update"),
            "{err}"
        );
        let hint = show_action(embedded(), "s3:CopyObject")
            .unwrap_err()
            .to_string();
        assert!(hint.contains("--operation s3:CopyObject"), "{hint}");
    }

    #[test]
    fn hints_point_at_real_actions() {
        for (api, real) in API_NAME_HINTS {
            assert!(
                embedded().action(api).is_none(),
                "{api} is a real action now; drop the hint"
            );
            for action in real
                .split(" and ")
                .map(|s| s.split(' ').next().unwrap_or(""))
            {
                assert!(
                    embedded().action(action).is_some(),
                    "hint target {action} does not exist"
                );
            }
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(list(["a".to_string()].into_iter(), 5), "a");
        assert_eq!(
            list(["a", "b", "c"].map(String::from).into_iter(), 2),
            "a or b (and 1 more)"
        );
    }
}
