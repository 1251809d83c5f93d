//! Collapsing many observed names under one path into a prefix wildcard, and dropping resources
//! that another resource of the same grant already covers.
//!
//! A wildcard is made only from evidence: at least `threshold` distinct names in one directory
//! (S3 key or SSM parameter path), and never shorter than that directory, so it can never reach
//! across a bucket, account, region, or a path segment that was not observed.

use crate::policy::escape::unescape_literal;
use crate::policy::eval::{Context, ResourcePattern, VARIABLES_VERSION};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What [`generalize`] made of a set of resources.
#[derive(Debug, Default)]
pub struct Generalized {
    pub resources: BTreeSet<String>,
    /// For each wildcard made, the resources it replaced.
    pub replaced: BTreeMap<String, Vec<String>>,
    /// Wildcards the evidence supported but that would have reached a refused resource, so
    /// the names under them were kept narrower.
    pub narrowed: Vec<String>,
}

/// Generalizes a set of resources (policy syntax) of one action and condition. `refused` are
/// resources the same action was denied on: no wildcard may reach one of them, since a call the
/// current policy refuses is evidence of intent, not of need.
pub fn generalize(
    resources: &BTreeSet<String>,
    threshold: usize,
    refused: &BTreeSet<String>,
) -> Generalized {
    let mut refused_by_head: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in refused {
        if let Some((head, path)) = split_path(r) {
            refused_by_head.entry(head).or_default().push(path);
        }
    }
    // Path-like resources by their fixed head (bucket, parameter root, log group).
    let mut by_head: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for r in resources {
        match split_path(r) {
            Some((head, path)) if threshold > 0 && !r.ends_with('*') => {
                by_head.entry(head).or_default().push(path)
            }
            _ => {
                out.insert(r.clone());
            }
        }
    }
    let mut replaced = BTreeMap::new();
    let mut narrowed = Vec::new();
    for (head, paths) in by_head {
        let mut collapser = Collapser {
            threshold: threshold.max(2),
            refused: refused_by_head.get(head).map_or(&[], Vec::as_slice),
            wildcards: Vec::new(),
            narrowed: Vec::new(),
        };
        let literals = collapser.collapse(&paths, 0);
        out.extend(literals.iter().map(|p| format!("{head}{p}")));
        for (prefix, members) in collapser.wildcards {
            let wildcard = format!("{head}{prefix}*");
            replaced.insert(
                wildcard.clone(),
                members.iter().map(|m| format!("{head}{m}")).collect(),
            );
            out.insert(wildcard);
        }
        narrowed.extend(collapser.narrowed.iter().map(|p| format!("{head}{p}*")));
    }
    Generalized {
        resources: out,
        replaced,
        narrowed,
    }
}

struct Collapser<'a, 'r> {
    threshold: usize,
    /// Refused paths under the same head.
    refused: &'r [&'r str],
    /// (prefix, members) of each wildcard made.
    wildcards: Vec<(String, Vec<&'a str>)>,
    narrowed: Vec<String>,
}

impl<'a> Collapser<'a, '_> {
    /// Collapses the paths below the directory that ends at byte `depth` (all paths share it).
    /// When the directory has `threshold` or more distinct entries right below it (names or
    /// subdirectories), everything under it becomes one longest-common-prefix wildcard: that many
    /// distinct siblings are the evidence that names there vary. Otherwise each subdirectory holding
    /// `threshold` or more paths is collapsed on its own, so a lone cluster keeps its depth. Returns
    /// the paths kept literally; wildcards (prefix, members) are pushed to `wildcards`. A wildcard
    /// that would reach a refused path is not made: the subdirectories are tried on their own.
    fn collapse(&mut self, paths: &[&'a str], depth: usize) -> Vec<&'a str> {
        let mut subdirs: BTreeMap<&str, Vec<&'a str>> = BTreeMap::new();
        let mut names = 0;
        for p in paths {
            match p[depth..].find('/') {
                Some(slash) => subdirs.entry(&p[..depth + slash + 1]).or_default().push(p),
                None => names += 1,
            }
        }
        if names + subdirs.len() >= self.threshold {
            if let Some(prefix) = wildcard_prefix(paths, depth) {
                if self.refused.iter().any(|r| reaches(prefix, r)) {
                    self.narrowed.push(prefix.to_string());
                } else {
                    self.wildcards.push((prefix.to_string(), paths.to_vec()));
                    return Vec::new();
                }
            }
        }
        let mut kept: Vec<&'a str> = paths
            .iter()
            .copied()
            .filter(|p| !p[depth..].contains('/'))
            .collect();
        for (dir, members) in subdirs {
            if members.len() >= self.threshold {
                kept.extend(self.collapse(&members, dir.len()));
            } else {
                kept.extend(members);
            }
        }
        kept
    }
}

/// Whether the wildcard `prefix*` would match the refused path `refused` (both policy syntax).
/// A prefix made from template patterns holds wildcards itself (`????-??-??/`), so it is
/// matched as a pattern; a literal one is a plain prefix.
fn reaches(prefix: &str, refused: &str) -> bool {
    if !has_wildcard(prefix) {
        return refused.starts_with(prefix);
    }
    let pattern = ResourcePattern::new(&format!("{prefix}*"), VARIABLES_VERSION, &Context::new());
    pattern.matches_chars(&ResourcePattern::chars(&unescape_literal(refused)))
}

/// The longest common prefix of `paths` (which share the directory ending at `depth`) as a
/// wildcard prefix, or None where it would be empty: at the head (bucket root, parameter root)
/// an empty prefix would reach every name of the bucket or account.
fn wildcard_prefix<'a>(paths: &[&'a str], depth: usize) -> Option<&'a str> {
    let mut prefix = safe_prefix(longest_common_prefix(paths), depth);
    // Across subdirectories a shared character is an accident of naming (random ids), not a
    // prefix: stop at the directory they share.
    if paths.iter().any(|p| p[depth..].contains('/')) {
        prefix = &prefix[..prefix.rfind('/').map_or(depth, |i| (i + 1).max(depth))];
    }
    (!prefix.is_empty()).then_some(prefix)
}

/// Splits a generalizable ARN into its fixed head and its path: S3 objects (after
/// `arn:aws:s3:::bucket/`), SSM parameters (after `…:parameter/`) and log streams (after
/// `…:log-stream:`). Other ARNs are never generalized.
fn split_path(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:")?;
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    if parts.len() != 5 {
        return None;
    }
    let head_len = 4 + parts[..4].iter().map(|p| p.len() + 1).sum::<usize>();
    let resource = parts[4];
    let path_start = match parts[1] {
        "s3" if parts[2].is_empty() && parts[3].is_empty() => head_len + resource.find('/')? + 1,
        "ssm" if resource.starts_with("parameter/") => head_len + "parameter/".len(),
        "logs" => head_len + resource.find(":log-stream:")? + ":log-stream:".len(),
        _ => return None,
    };
    (path_start < arn.len()).then(|| arn.split_at(path_start))
}

/// Log streams the awslogs driver names `<prefix>/<container>/<task-id>`: one per task, so the
/// observed name can never be used again. The task id becomes `*`; nothing else changes.
pub fn per_task_log_streams(
    resources: &BTreeSet<String>,
) -> (BTreeSet<String>, BTreeMap<String, Vec<String>>) {
    let mut out = BTreeSet::new();
    let mut replaced: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources {
        let task_id = r
            .contains(":log-stream:")
            .then(|| r.rsplit_once('/'))
            .flatten()
            .filter(|(_, last)| is_task_id(last));
        match task_id {
            Some((stem, _)) => {
                let wildcard = format!("{stem}/*");
                replaced
                    .entry(wildcard.clone())
                    .or_default()
                    .push(r.clone());
                out.insert(wildcard);
            }
            None => {
                out.insert(r.clone());
            }
        }
    }
    (out, replaced)
}

fn is_task_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The longest common prefix of `names`, on a character boundary.
fn longest_common_prefix<'a>(names: &[&'a str]) -> &'a str {
    let first = names[0];
    let mut end = first.len();
    for n in &names[1..] {
        end = first
            .bytes()
            .zip(n.bytes())
            .take(end)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    &first[..end]
}

/// Cuts a prefix back so it does not end inside an escape (`${*}`), never below `min_len`.
fn safe_prefix(prefix: &str, min_len: usize) -> &str {
    if let Some(open) = prefix.rfind("${") {
        if !prefix[open..].contains('}') && open >= min_len {
            return &prefix[..open];
        }
    }
    prefix
}

/// Drops resources that another, wildcard resource of the same set already matches.
///
/// Sets can hold a hundred thousand object ARNs and thousands of wildcards (the KMS contexts of
/// a busy S3 role), so each wildcard is parsed once and a resource is compared only with the
/// wildcards whose literal prefix it starts with: every match starts with that prefix.
pub fn drop_covered(resources: BTreeSet<String>) -> BTreeSet<String> {
    let none = Context::new();
    // prefix → the wildcards with that literal prefix; and the prefixes' lengths, to look up.
    let mut by_prefix: HashMap<String, Vec<(&str, ResourcePattern)>> = HashMap::new();
    for w in resources.iter().filter(|r| has_wildcard(r)) {
        let pattern = ResourcePattern::new(w, VARIABLES_VERSION, &none);
        if let Some(prefix) = pattern.literal_prefix() {
            by_prefix.entry(prefix).or_default().push((w, pattern));
        }
    }
    let lengths: BTreeSet<usize> = by_prefix.keys().map(String::len).collect();
    let covered = |r: &String| {
        let literal = unescape_literal(r);
        let mut chars = None;
        lengths
            .iter()
            .filter_map(|&n| by_prefix.get(literal.get(..n)?))
            .flatten()
            .any(|(w, pattern)| {
                *w != r.as_str()
                    && pattern.matches_chars(
                        chars.get_or_insert_with(|| ResourcePattern::chars(&literal)),
                    )
            })
    };
    let keep: Vec<bool> = resources.iter().map(|r| !covered(r)).collect();
    resources
        .into_iter()
        .zip(keep)
        .filter_map(|(r, keep)| keep.then_some(r))
        .collect()
}

pub fn has_wildcard(r: &str) -> bool {
    let plain = r.replace("${*}", "").replace("${?}", "");
    plain.contains('*') || plain.contains('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn generalize(resources: &BTreeSet<String>, threshold: usize) -> Generalized {
        super::generalize(resources, threshold, &BTreeSet::new())
    }

    #[test]
    fn many_objects_in_one_directory_become_its_prefix() {
        let objects = set(&[
            "arn:aws:s3:::docs/uploads/a.pdf",
            "arn:aws:s3:::docs/uploads/b.pdf",
            "arn:aws:s3:::docs/uploads/c.pdf",
            "arn:aws:s3:::docs/private/z.pdf",
        ]);
        let Generalized {
            resources: out,
            replaced,
            ..
        } = generalize(&objects, 3);
        assert_eq!(
            out,
            set(&[
                "arn:aws:s3:::docs/private/z.pdf",
                "arn:aws:s3:::docs/uploads/*"
            ])
        );
        assert_eq!(replaced["arn:aws:s3:::docs/uploads/*"].len(), 3);
    }

    #[test]
    fn the_prefix_is_the_longest_common_one_not_the_directory() {
        let objects = set(&[
            "arn:aws:s3:::r/2026/report-01.csv",
            "arn:aws:s3:::r/2026/report-02.csv",
            "arn:aws:s3:::r/2026/report-03.csv",
        ]);
        let out = generalize(&objects, 3).resources;
        assert_eq!(out, set(&["arn:aws:s3:::r/2026/report-0*"]));
    }

    #[test]
    fn never_wider_than_the_bucket_or_below_threshold() {
        // Names at the bucket root with nothing in common stay as they are: `a/*` is the bucket.
        let root = set(&["arn:aws:s3:::a/x", "arn:aws:s3:::a/y", "arn:aws:s3:::a/z"]);
        assert_eq!(generalize(&root, 3).resources, root);
        let root = set(&[
            "arn:aws:s3:::a/log-1",
            "arn:aws:s3:::a/log-2",
            "arn:aws:s3:::a/log-3",
        ]);
        assert_eq!(
            generalize(&root, 3).resources,
            set(&["arn:aws:s3:::a/log-*"])
        );
        // Unrelated top-level parameter paths never become the whole account's parameters.
        let params = set(&[
            "arn:aws:ssm:r:1:parameter/billing/prod/api-key",
            "arn:aws:ssm:r:1:parameter/orders/prod/db-password",
            "arn:aws:ssm:r:1:parameter/reports/smtp-password",
        ]);
        assert_eq!(generalize(&params, 3).resources, params);
        let few = set(&["arn:aws:s3:::a/d/x", "arn:aws:s3:::a/d/y"]);
        assert_eq!(generalize(&few, 3).resources, few);
        // Other resource types are never generalized.
        let queues = set(&[
            "arn:aws:sqs:r:1:q1",
            "arn:aws:sqs:r:1:q2",
            "arn:aws:sqs:r:1:q3",
        ]);
        assert_eq!(generalize(&queues, 2).resources, queues);
        // Objects spread over directories collapse to the directory they share, no higher.
        let spread = set(&[
            "arn:aws:s3:::a/in/d1/x",
            "arn:aws:s3:::a/in/d2/y",
            "arn:aws:s3:::a/in/d3/z",
            "arn:aws:s3:::a/out/w",
        ]);
        assert_eq!(
            generalize(&spread, 3).resources,
            set(&["arn:aws:s3:::a/in/*", "arn:aws:s3:::a/out/w"])
        );
    }

    #[test]
    fn ssm_parameters_generalize_within_their_path() {
        let params = set(&[
            "arn:aws:ssm:eu-west-1:1:parameter/svc/prod/a",
            "arn:aws:ssm:eu-west-1:1:parameter/svc/prod/b",
            "arn:aws:ssm:eu-west-1:1:parameter/svc/prod/c",
        ]);
        assert_eq!(
            generalize(&params, 3).resources,
            set(&["arn:aws:ssm:eu-west-1:1:parameter/svc/prod/*"])
        );
    }

    #[test]
    fn an_escaped_star_never_becomes_a_wildcard() {
        let objects = set(&[
            "arn:aws:s3:::b/d/x${*}1",
            "arn:aws:s3:::b/d/x${*}2",
            "arn:aws:s3:::b/d/x${*}3",
        ]);
        let out = generalize(&objects, 3).resources;
        assert_eq!(out, set(&["arn:aws:s3:::b/d/x${*}*"]));
        let cut = set(&[
            "arn:aws:s3:::b/d/a${*}",
            "arn:aws:s3:::b/d/a${?}",
            "arn:aws:s3:::b/d/a${$}",
        ]);
        assert_eq!(generalize(&cut, 3).resources, set(&["arn:aws:s3:::b/d/a*"]));
    }

    #[test]
    fn many_sibling_directories_become_their_parent() {
        let objects: BTreeSet<String> = (0..50)
            .flat_map(|c| {
                (0..3).map(move |o| format!("arn:aws:s3:::b/customers/c-{c:04}/object-{o}"))
            })
            .chain(["arn:aws:s3:::b/exports/x".to_string()])
            .collect();
        let Generalized {
            resources: out,
            replaced,
            ..
        } = generalize(&objects, 3);
        assert_eq!(
            out,
            set(&["arn:aws:s3:::b/customers/*", "arn:aws:s3:::b/exports/x"])
        );
        assert_eq!(replaced["arn:aws:s3:::b/customers/*"].len(), 150);
    }

    #[test]
    fn no_wildcard_reaches_a_refused_resource() {
        let objects: BTreeSet<String> = (0..6)
            .flat_map(|c| (0..3).map(move |o| format!("arn:aws:s3:::b/customers/c-{c}/o-{o}")))
            .collect();
        let refused = set(&["arn:aws:s3:::b/customers/c-9/o-0"]);
        let g = super::generalize(&objects, 3, &refused);
        // `customers/*` would grant the refused object: each customer is collapsed on its own.
        let want: BTreeSet<String> = (0..6)
            .map(|c| format!("arn:aws:s3:::b/customers/c-{c}/o-*"))
            .collect();
        assert_eq!(g.resources, want);
        assert_eq!(g.narrowed, ["arn:aws:s3:::b/customers/*"]);
        // A refused object inside a cluster keeps that cluster literal.
        let refused = set(&["arn:aws:s3:::b/customers/c-0/o-7"]);
        let g = super::generalize(&objects, 3, &refused);
        assert!(g.resources.contains("arn:aws:s3:::b/customers/c-0/o-1"));
        assert!(g.resources.contains("arn:aws:s3:::b/customers/c-1/o-*"));
        // Refusals elsewhere change nothing.
        let refused = set(&["arn:aws:s3:::other/customers/c-9/o-0"]);
        let g = super::generalize(&objects, 3, &refused);
        assert_eq!(g.resources, set(&["arn:aws:s3:::b/customers/*"]));
        assert!(g.narrowed.is_empty());
    }

    #[test]
    fn a_prefix_made_from_template_patterns_is_matched_against_refusals_as_a_pattern() {
        let names = set(&[
            "arn:aws:s3:::b/in/????-??-??/a",
            "arn:aws:s3:::b/in/????-??-??/b",
            "arn:aws:s3:::b/in/????-??-??/c",
        ]);
        // `in/????-??-??/*` would reach the refused object, though no string starts with it.
        let refused = set(&["arn:aws:s3:::b/in/2025-01-01/z"]);
        let g = super::generalize(&names, 3, &refused);
        assert_eq!(g.resources, names);
        assert_eq!(g.narrowed, ["arn:aws:s3:::b/in/????-??-??/*"]);
        let g = super::generalize(&names, 3, &set(&["arn:aws:s3:::b/out/z"]));
        assert_eq!(g.resources, set(&["arn:aws:s3:::b/in/????-??-??/*"]));
    }

    #[test]
    fn a_deep_cluster_stays_deep() {
        let objects = set(&[
            "arn:aws:s3:::b/data/t1/a",
            "arn:aws:s3:::b/data/t1/b",
            "arn:aws:s3:::b/data/t1/c",
            "arn:aws:s3:::b/data/t2/a",
        ]);
        assert_eq!(
            generalize(&objects, 3).resources,
            set(&["arn:aws:s3:::b/data/t1/*", "arn:aws:s3:::b/data/t2/a"])
        );
    }

    #[test]
    fn per_task_log_streams_lose_only_the_task_id() {
        let streams = set(&[
            "arn:aws:logs:r:1:log-group:/ecs/web:log-stream:ecs/web/f2be848f77dc36d3a552e442c961ac4e",
            "arn:aws:logs:r:1:log-group:/ecs/web:log-stream:manual-stream",
        ]);
        let (out, replaced) = per_task_log_streams(&streams);
        assert_eq!(
            out,
            set(&[
                "arn:aws:logs:r:1:log-group:/ecs/web:log-stream:ecs/web/*",
                "arn:aws:logs:r:1:log-group:/ecs/web:log-stream:manual-stream"
            ])
        );
        assert_eq!(replaced.len(), 1);
    }

    #[test]
    fn covered_resources_are_dropped() {
        let secrets = set(&[
            "arn:aws:secretsmanager:r:1:secret:db-AbCdEf",
            "arn:aws:secretsmanager:r:1:secret:db-??????",
            "arn:aws:secretsmanager:r:1:secret:other-XyZabc",
        ]);
        assert_eq!(
            drop_covered(secrets),
            set(&[
                "arn:aws:secretsmanager:r:1:secret:db-??????",
                "arn:aws:secretsmanager:r:1:secret:other-XyZabc"
            ])
        );
        // A literal star is not a wildcard that covers other names.
        let literal = set(&["arn:aws:s3:::b/${*}", "arn:aws:s3:::b/x"]);
        assert_eq!(drop_covered(literal.clone()), literal);
    }
}
